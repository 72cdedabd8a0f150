
import pytest
import yaml

from src.config import load_params, parse_params
from src.errors import ConfigError
from tests.conftest import REPO, run_module


def test_repo_params_validate():
    p = load_params(REPO / "params.yaml")
    assert p.preset == "cpu" and "mnist" in p.datasets
    assert p.evaluate.mnist.n_models >= 5


def test_paper_preset_merges_over_defaults():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    cpu = parse_params(raw)
    paper = parse_params({**raw, "preset": "paper"})
    assert paper.baseline.mnist.model.width == 128 and cpu.baseline.mnist.model.width == 64
    assert paper.baseline.mnist.model.depth == cpu.baseline.mnist.model.depth  # untouched keys survive the merge
    assert paper.evaluate.mnist.epochs == 1000


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["baseline"]["mnist"].update(epoch=3), r"baseline.mnist.epoch: Extra inputs are not permitted"),
    (lambda r: r["baseline"]["mnist"].update(epochs="many"), r"baseline.mnist.epochs: Input should be a valid integer"),
    (lambda r: r["baseline"]["mnist"].update(epochs=0), r"baseline.mnist.epochs: Input should be greater than or equal to 1 \(got 0\)"),
    (lambda r: r["evaluate"]["mnist"]["model"].update(norm="weird"), r"evaluate.mnist.model.norm: Input should be 'none', 'batch'"),
    (lambda r: r.update(datasets=["cifar"]), r"datasets.0: Input should be 'mnist' or 'mhist'"),
    (lambda r: r.update(preset="huge"), r"preset: 'huge' has no section under 'presets'"),
    (lambda r: r["evaluate"]["mnist"].update(lr_ipc={0: 0.01}),
     r"evaluate.mnist: Value error, lr_ipc: expected images-per-class >= 1 mapped to an lr in \(0, 10\] \(got \{0: 0.01\}\)"),
    (lambda r: r["evaluate"]["mnist"].update(lr_ipc={1: -0.1}), r"evaluate.mnist: Value error, lr_ipc: .*\(got \{1: -0.1\}\)"),
    (lambda r: r["distill"]["pad"]["mnist"].update(eval_lr="learned", lr_lr=0.0),
     r"distill.pad.mnist: Value error, eval_lr: 'learned' needs lr_lr > 0"),
])
def test_bad_values_name_the_key(mutate, message):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_params(raw)


def test_cli_reports_bad_params_in_one_line(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["prepare"]["mnist"]["val_size"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    r = run_module("src.baseline", "mnist", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: params.yaml: prepare.mnist.val_size: Input should be greater than or "
                                "equal to 0 (got -1)")


def test_unreadable_yaml(tmp_path):
    (tmp_path / "p.yaml").write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="p.yaml: not valid YAML"):
        load_params(tmp_path / "p.yaml")


def test_preset_flag_equals_the_preset_written_in_the_file(tmp_path):
    text = (REPO / "params.yaml").read_text()
    assert "\npreset: cpu\n" in text
    paper_file = tmp_path / "paper.yaml"
    paper_file.write_text(text.replace("\npreset: cpu\n", "\npreset: paper\n"))
    by_flag = load_params(REPO / "params.yaml", preset="paper")
    assert by_flag == load_params(paper_file)
    assert by_flag.distill.datadam["mnist"].iterations != load_params(REPO / "params.yaml").distill.datadam["mnist"].iterations
    assert load_params(REPO / "params.yaml", preset=None) == load_params(REPO / "params.yaml")


def test_unknown_preset_flag_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"preset: 'gpu' has no section under 'presets'"):
        load_params(REPO / "params.yaml", preset="gpu")


def test_an_ipc_specific_lr_applies_to_that_size_only():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["evaluate"]["mnist"].update(lr=0.02, lr_ipc={2: 0.05})
    spec = parse_params(raw).evaluate.mnist
    two, three = spec.at_ipc(2), spec.at_ipc(3)
    assert (two.lr, three.lr) == (0.05, 0.02)
    assert two.lr_ipc == {} == three.lr_ipc   # resolved: what is logged is the lr that trained the networks
    assert two.model_dump() == {**spec.model_dump(), "lr": 0.05, "lr_ipc": {}}   # nothing else changes
