"""Distill -> random -> evaluate stages end to end on a small MNIST-layout fixture."""

import json

from src.distill.__main__ import run_distill
from src.evaluate import evaluate_distilled, evaluate_file, evaluate_random
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
    # what the same seed reproduces only with: torch's thread count, in the metrics and in the set
    import torch

    from src.distill.synthetic import load as load_set

    threads = torch.get_num_threads()
    assert saved["device"] == rnd["device"] == "cpu" and saved["torch_threads"] == rnd["torch_threads"] == threads
    meta = load_set(workdir / out).meta
    assert meta["environment"]["torch_threads"] == str(threads) and meta["environment"]["torch"] == torch.__version__
    from src.data.fsutil import md5sum

    data = "data/processed/mnist/data.safetensors"
    assert meta["inputs"] == {data: md5sum(workdir / data)}  # the data it was distilled from
    # the same set received as a file: the same protocol and seed give the same numbers
    shared = workdir / "received" / "a set.safetensors"
    shared.parent.mkdir()
    shared.write_bytes((workdir / out).read_bytes())
    f = evaluate_file(shared, out=workdir / "received/metrics.json")
    assert f["accs"] == m["accs"] and f["gain_over_random"] == m["gain_over_random"] and f["distilled_file"] == str(shared)
    assert json.loads((workdir / "received/metrics.json").read_text()) == json.loads(json.dumps(f))
    assert {k: v for k, v in f.items() if k not in ("distilled_file", "seconds")} == \
        {k: v for k, v in saved.items() if k not in ("distilled_file", "seconds")}
    one = evaluate_file(shared, n_models=1)
    assert one["accs"] == m["accs"][:1]  # model i is seeded by its index
    set_param(workdir, "preset", "paper")  # the committed anchor was scored under another protocol
    set_param(workdir, "presets.paper.evaluate.mnist", {"n_models": 1, "epochs": 2})
    assert "gain_over_random" not in evaluate_file(shared)


def test_every_stage_trains_a_sets_networks_at_the_lr_for_its_size(workdir, mnist_like, monkeypatch):
    """evaluate.<dataset>.lr_ipc reaches the networks of the anchor, the distilled set and a received
    file alike, and only at the sizes it names."""
    import src.protocol

    shrink(workdir)
    set_param(workdir, "evaluate.mnist.lr_ipc", {2: 0.05})
    set_param(workdir, "evaluate.mnist.cross_models", [])
    prepare("mnist", source_dir=mnist_like, verify=False)
    out = run_distill("mnist-datadam-ipc2-noise")
    seen, real = [], src.protocol.evaluate_set
    monkeypatch.setattr(src.protocol, "evaluate_set", lambda *a, **k: seen.append((len(a[0]), a[7].lr)) or real(*a, **k))
    written = [evaluate_random("mnist", 2), evaluate_distilled("mnist-datadam-ipc2-noise"),
               evaluate_file(workdir / out), evaluate_random("mnist", 1)]
    assert seen == [(20, 0.05), (20, 0.05), (20, 0.05), (10, 0.01)]
    assert [m["eval_lr"] for m in written] == [0.05, 0.05, 0.05, 0.01]  # the metrics say which lr trained them


def test_mhist_fixture_runs_datadam_and_pad_end_to_end(workdir, mhist_like, monkeypatch):
    """The whole MHIST path on a generated fixture in the real file layout (RGB, 2 classes, flips
    in DSA): prepare -> random anchor -> DataDAM -> experts -> PAD -> evaluate, with the binary
    metrics MHIST reports (balanced accuracy and AUC) in every metrics file."""
    from src.experts import run_experts

    monkeypatch.setenv("DD_MHIST_DIR", str(mhist_like))
    small = {"model": {"name": "convnet", "depth": 2, "width": 8}}
    strategy = "color_crop_cutout_flip_scale_rotate"
    set_param(workdir, "datasets", ["mhist"])
    set_param(workdir, "prepare.mhist", {"resolution": 16, "val_fraction": 0.2})
    set_param(workdir, "evaluate.mhist", {**small, "n_models": 2, "epochs": 4, "dsa_strategy": strategy})
    set_param(workdir, "distill.datadam.mhist", {**small, "iterations": 4, "batch_real": 3, "checkpoint_every": 2,
                                                 "log_every": 2, "compile": False, "dsa_strategy": strategy})
    set_param(workdir, "expert_datasets", ["mhist"])
    set_param(workdir, "experts.mhist", {**small, "n_experts": 2, "epochs": 5, "keep_epochs": 3, "batch_size": 8,
                                         "lr_teacher": 0.05, "score_models": 1, "score_epochs": 1,
                                         "dsa_strategy": strategy})
    set_param(workdir, "distill.pad.mhist", {"iterations": 3, "syn_steps": 2, "expert_epochs": 1, "min_start_epoch": 0,
                                             "start_epoch": 1, "max_start_epoch": 2, "expand_iterations": 2,
                                             "batch_syn": 3, "lr_img": 10.0, "checkpoint_every": 2, "log_every": 1,
                                             "dsa_strategy": strategy})
    set_param(workdir, "runs", {"mhist-datadam-ipc2-real": {"dataset": "mhist", "method": "datadam", "ipc": 2, "init": "real"}})
    set_param(workdir, "pad_runs", {"mhist-pad-ipc2-real": {"dataset": "mhist", "method": "pad", "ipc": 2, "init": "real"}})
    set_param(workdir, "random", {"mhist-ipc2": {"dataset": "mhist", "ipc": 2}})
    prepare("mhist", verify=False)
    rnd = evaluate_random("mhist", 2)
    run_distill("mhist-datadam-ipc2-real")
    run_experts("mhist")
    run_distill("mhist-pad-ipc2-real")
    for run, name in (("mhist-datadam-ipc2-real", "datadam_ipc2_real"), ("mhist-pad-ipc2-real", "pad_ipc2_real")):
        m = evaluate_distilled(run)
        saved = json.loads((workdir / f"reports/metrics/mhist/{name}.json").read_text())
        assert saved == json.loads(json.dumps(m)) and saved["n_models"] == 2
        assert 0 <= saved["balanced_acc"] <= 100 and 0 <= saved["auc"] <= 1
        assert saved["random_acc_mean"] == rnd["acc_mean"]
    from src.distill.synthetic import load as load_set

    s = load_set(workdir / "data/distilled/mhist/pad_ipc2_real.safetensors", "mhist")
    assert s.images.shape == (4, 3, 16, 16) and s.meta["method"] == "pad"


def test_distill_says_what_becomes_of_a_checkpoint_already_there(workdir, mnist_like, capsys):
    """Another run's checkpoint and an unreadable one are set aside with a line saying so; one of this
    run written at another thread count is resumed, with a warning (on the CPU the bytes depend on it)."""
    import re

    import torch
    from safetensors.torch import save_file

    from src.distill import checkpoint

    shrink(workdir)
    prepare("mnist", source_dir=mnist_like, verify=False)
    ckpt = workdir / "models/checkpoints/mnist_datadam_ipc2_noise.safetensors"
    ckpt.parent.mkdir(parents=True)
    images = torch.zeros(20, 1, 28, 28)
    checkpoint.save(ckpt, "another-run", 3, images, None)
    run_distill("mnist-datadam-ipc2-noise")
    out = capsys.readouterr().out
    key = re.search(r"written under other settings \(params hash another-run, now (\w+)\): starting over", out).group(1)
    assert "resumed from" not in out
    ckpt.write_bytes(b"not a checkpoint")
    run_distill("mnist-datadam-ipc2-noise")
    assert "models/checkpoints/mnist_datadam_ipc2_noise.safetensors: unreadable checkpoint" in capsys.readouterr().out
    save_file({"images": images, "momentum": images.clone()}, str(ckpt), metadata={"iteration": "3", "key": key,
                                                                         "torch_threads": "99"})
    run_distill("mnist-datadam-ipc2-noise")
    out = capsys.readouterr().out
    assert f"written with 99 torch threads, resuming with {torch.get_num_threads()}" in out
    assert "resumed from iteration 3" in out
