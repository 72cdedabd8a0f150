"""The baseline stage end to end on the MHIST fixture (real file layout), seeded."""

import json

from safetensors.torch import load_file

from src.baseline import baseline
from src.prepare import prepare
from tests.conftest import run_module, set_param


def small(workdir):
    set_param(workdir, "prepare.mhist.resolution", 32)
    set_param(workdir, "baseline.mhist", {"model": {"name": "convnet", "depth": 3, "width": 8}, "epochs": 3,
                                          "batch_size": 8, "lr": 0.01})


def test_mhist_prepare_and_baseline_end_to_end(workdir, mhist_like, monkeypatch):
    small(workdir)
    monkeypatch.setenv("DD_MHIST_DIR", str(mhist_like))
    prepare("mhist", verify=False)
    m1 = baseline("mhist")
    saved = json.loads((workdir / "reports/metrics/mhist/baseline.json").read_text())
    assert saved["test_acc"] == m1["test_acc"] and 0 <= saved["balanced_acc"] <= 100 and 0 <= saved["auc"] <= 1
    assert saved["macs_per_image"] > 0 and saved["train_seconds"] > 0
    weights = load_file(str(workdir / "models/baseline/mhist.safetensors"))
    assert "classifier.weight" in weights
    m2 = baseline("mhist")  # same seed, same CPU: same numbers
    assert (m2["test_acc"], m2["balanced_acc"], m2["auc"]) == (m1["test_acc"], m1["balanced_acc"], m1["auc"])


def test_baseline_without_data_is_a_clear_error(workdir):
    r = run_module("src.baseline", "mhist")
    assert r.returncode == 2 and "data/processed/mhist/data.safetensors: missing" in r.stderr
    assert not (workdir / "models").exists() and not (workdir / "reports").exists()
