import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def stage_modules():
    """The module each dvc.yaml stage runs (`python -m src.<module> ...`)."""
    import re

    text = (Path(__file__).parents[1] / "dvc.yaml").read_text()
    return sorted(set(re.findall(r"cmd: python -m (src[\w.]*)", text)))


def test_console_script_has_a_subcommand_for_every_stage():
    mods = stage_modules()
    assert "src.experts" in mods and "src.nas.compare" in mods  # the parse found the stages
    r = subprocess.run([str(BIN / "ddkit"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    listed = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    for mod in mods:  # src.nas.compare -> nas-compare, src.distill -> distill
        assert mod.removeprefix("src.").replace(".", "-") in listed, mod
    assert "show" in listed


@pytest.mark.parametrize("module", [*stage_modules(), "src.show"])
def test_stage_modules_answer_help(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage" in r.stdout


def test_help_does_not_import_torch_or_mlflow():
    code = "import sys, src.cli; print('torch' in sys.modules, 'mlflow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["False", "False"]


def test_bad_flag_is_usage_error():
    r = subprocess.run([sys.executable, "-m", "src.prepare", "mnist", "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "No such option" in r.stderr
