"""benchmarks/gpu_params.py writes the params file that benchmarks/gpu.sh runs the stage code with on
a lent GPU, where a bad file would waste scarce device time: it must validate, name every run the
script invokes, and keep PAD's start-epoch window inside the epochs the shortened experts keep."""

import json
import subprocess
import sys

import pytest

from src.config import find_run, load_params
from tests.conftest import REPO


def write(tmp_path, *args):
    out = tmp_path / "params.gpu.yaml"
    done = subprocess.run([sys.executable, "benchmarks/gpu_params.py", str(out), *args], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return load_params(out), json.loads(done.stdout)


@pytest.mark.parametrize("args", [[], ["--datadam-iterations", "5000", "--pad-iterations", "300"], ["--smoke"]])
def test_gpu_params_validate_and_name_the_scripts_runs(tmp_path, args):
    p, echo = write(tmp_path, *args)
    assert p.preset == "paper" and echo["preset"] == "paper"
    for ipc in (1, 10, 50):
        assert find_run(p, f"mnist-datadam-ipc{ipc}-real").ipc == ipc
        assert f"mnist-ipc{ipc}" in p.random
    assert find_run(p, "mnist-pad-ipc10-real").method == "pad"
    pad, experts = p.distill.pad["mnist"], p.experts["mnist"]
    assert pad.max_start_epoch + pad.expert_epochs <= experts.keep_epochs
    assert not p.evaluate.mnist.cross_models  # does not fit the script's budget; echoed as a change
    assert "evaluate.cross_models" in echo["changes_from_paper_preset"]


def test_gpu_params_apply_and_echo_the_overrides(tmp_path):
    p, echo = write(tmp_path, "--datadam-iterations", "5000", "--pad-iterations", "300", "--n-experts", "3",
                    "--expert-epochs", "10", "--n-models", "3")
    assert p.distill.datadam["mnist"].iterations == 5000
    assert p.distill.pad["mnist"].iterations == 300 and p.experts["mnist"].n_experts == 3
    assert p.experts["mnist"].keep_epochs == 10 and p.distill.pad["mnist"].max_start_epoch == 8
    assert p.distill.datadam["mnist"].model.width == 128  # the paper preset's network is kept
    assert p.evaluate.mnist.n_models == 3 and echo["changes_from_paper_preset"]["evaluate.n_models"] == 3
    changes = echo["changes_from_paper_preset"]
    assert changes["distill.datadam.iterations"] == 5000 and changes["distill.pad.iterations"] == 300
    default, _ = write(tmp_path)
    assert default.distill.datadam["mnist"].iterations == 8000  # the preset's own length unless told
    assert default.evaluate.mnist.n_models == 10  # and its own number of models
