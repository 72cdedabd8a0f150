"""Distill -> random -> evaluate stages end to end on a small MNIST-layout fixture."""

import json

from src.distill.__main__ import run_distill
from src.evaluate import evaluate_distilled, evaluate_random
from src.prepare import prepare
from tests.conftest import set_param


def shrink(d):
    set_param(d, "prepare.mnist.val_size", 20)
    small = {"model": {"name": "convnet", "depth": 2, "width": 8}}
    set_param(d, "evaluate.mnist", {**small, "n_models": 2, "epochs": 5, "dsa_strategy": "color_crop_scale_rotate",
                                    "cross_models": [{"name": "mlp", "width": 16}], "cross_n_models": 1})
    set_param(d, "distill.datadam.mnist", {**small, "iterations": 6, "batch_real": 4, "checkpoint_every": 3,
                                           "log_every": 3, "compile": False,
                                           "dsa_strategy": "color_crop_cutout_scale_rotate"})
    set_param(d, "runs", {"mnist-datadam-ipc2-noise": {"dataset": "mnist", "method": "datadam", "ipc": 2, "init": "noise"}})
    set_param(d, "random", {"mnist-ipc2": {"dataset": "mnist", "ipc": 2}})


def test_distill_then_evaluate(workdir, mnist_like):
    shrink(workdir)
    prepare("mnist", source_dir=mnist_like, verify=False)
    out = run_distill("mnist-datadam-ipc2-noise")
    assert out == workdir.joinpath("data/distilled/mnist/datadam_ipc2_noise.safetensors").relative_to(workdir)
    for kind in ("start", "end", "loss"):
        assert (workdir / f"reports/figures/mnist/datadam_ipc2_noise_{kind}.png").stat().st_size > 1000
    assert not list((workdir / "models/checkpoints").glob("*"))  # removed after a completed run
    rnd = evaluate_random("mnist", 2)
    m = evaluate_distilled("mnist-datadam-ipc2-noise")
    saved = json.loads((workdir / "reports/metrics/mnist/datadam_ipc2_noise.json").read_text())
    assert saved == json.loads(json.dumps(m))
    assert saved["n_models"] == 2 and len(saved["accs"]) == 2 and saved["random_acc_mean"] == rnd["acc_mean"]
    assert set(saved["cross"]) == {"mlp"} and saved["cross"]["mlp"]["n_models"] == 1
    again = evaluate_distilled("mnist-datadam-ipc2-noise")  # same seed, CPU: same numbers
    assert again["accs"] == m["accs"]
