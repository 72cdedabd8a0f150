"""The evaluation learning rate a distilled set asks for; `evaluate file` on what it must refuse
(its end-to-end run on a real set is in tests/test_stages.py)."""

from types import SimpleNamespace

import pytest
import torch

from src.config import EvalSpec
from src.distill import synthetic
from src.evaluate import _protocol, set_lr
from tests.conftest import run_module


def test_a_stored_lr_is_used_and_a_set_without_one_gets_the_protocols():
    assert abs(set_lr(SimpleNamespace(lr=torch.tensor(0.045))) - 0.045) < 1e-6   # PAD, eval_lr: learned
    assert set_lr(SimpleNamespace(lr=None)) is None   # DataDAM, PAD with eval_lr: protocol


def test_a_protocol_is_built_only_from_a_spec_resolved_for_the_sets_size():
    spec = EvalSpec(lr=0.01, lr_ipc={1: 0.003})
    with pytest.raises(ValueError, match=r"resolve it with spec.at_ipc\(ipc\)"):
        _protocol(spec)
    assert _protocol(spec.at_ipc(1)).lr == 0.003 and _protocol(spec.at_ipc(10)).lr == 0.01


def evaluate_file(*args, cwd):
    return run_module("src.evaluate", "file", *args, cwd=cwd)


def test_file_refuses_an_unknown_dataset_and_a_bad_count(workdir):
    path = synthetic.save(workdir / "x.safetensors", torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]),
                          {"dataset": "../../etc", "method": "pad"})
    r = evaluate_file(path, cwd=workdir)
    assert r.returncode == 2 and "made for dataset '../../etc', expected one of ['mnist', 'mhist']" in r.stderr
    r = evaluate_file(path, "--n-models", "0", cwd=workdir)
    assert r.returncode == 2 and "--n-models: 0 is not a positive number" in r.stderr


def test_file_without_prepared_data_says_how_to_get_it(workdir):
    path = synthetic.save(workdir / "x.safetensors", torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]),
                          {"dataset": "mnist", "method": "pad", "mean": [0.1], "std": [0.3]})
    r = evaluate_file(path, "--out", "m.json", cwd=workdir)
    assert r.returncode == 2 and "data/processed/mnist/data.safetensors: missing; run `dvc repro prepare@mnist`" in r.stderr
    assert not (workdir / "m.json").exists()
