"""`python -m src.nas` end to end on a small MNIST-layout fixture: three proxies, then the comparison."""

import json

import pytest

from src.distill.__main__ import run_distill
from src.errors import UserError
from src.nas.__main__ import search
from src.nas.compare import compare_proxies
from src.prepare import prepare
from tests.conftest import set_param


def small_pipeline(workdir, mnist_like) -> dict:
    """prepare -> distill -> NAS under three proxies on a tiny grid (tracking as the environment says)."""
    set_param(workdir, "prepare.mnist.val_size", 40)
    small = {"model": {"name": "convnet", "depth": 2, "width": 8}}
    set_param(workdir, "distill.datadam.mnist", {**small, "iterations": 4, "batch_real": 4, "checkpoint_every": 2,
                                                 "log_every": 2, "compile": False})
    set_param(workdir, "runs", {"mnist-datadam-ipc2-real": {"dataset": "mnist", "method": "datadam", "ipc": 2, "init": "real"}})
    set_param(workdir, "random", {"mnist-ipc2": {"dataset": "mnist", "ipc": 2}})
    set_param(workdir, "nas.mnist", {"space": {"depth": [1, 2], "width": [4, 8], "norm": ["none"]}, "seeds": 2,
                                     "full": {"epochs": 1, "batch_size": 64}, "proxy": {"epochs": 3},
                                     "distilled": "datadam_ipc2_real", "final_epochs": 1, "curve_images": 10})
    prepare("mnist", source_dir=mnist_like, verify=False)
    run_distill("mnist-datadam-ipc2-real")
    return {p: search("mnist", p) for p in ("full", "synthetic", "random")}


def test_three_proxies_and_compare(workdir, mnist_like, monkeypatch, capsys):
    results = small_pipeline(workdir, mnist_like)
    for proxy, r in results.items():
        assert r["n_archs"] == 4 and set(r["results"]) == {"d1-w4-none-relu-avg", "d1-w8-none-relu-avg",
                                                          "d2-w4-none-relu-avg", "d2-w8-none-relu-avg"}
        assert r["missing"] == [] and all(len(v["val_accs"]) == 2 for v in r["results"].values())  # two seeds each
        assert 0 <= r["final_test_acc"] <= 100
        for v in r["results"].values():  # checkpoints: every epoch of 3 (1 for full), the last on the whole split
            curve = v["curve"]
            assert [c["epoch"] for c in curve] == ([1] if proxy == "full" else [1, 2, 3])
            assert [c["images"] for c in curve] == [10] * (len(curve) - 1) + [40]
            assert curve[-1]["val_mean"] == v["val_mean"] and 0 < curve[-1]["seconds"] <= v["seconds"]
            assert all(a["seconds"] < b["seconds"] for a, b in zip(curve, curve[1:]))
    assert results["random"]["data"] == "random_ipc2" and results["synthetic"]["n_images"] == 20
    again = search("mnist", "synthetic")  # the study is complete: resuming trains nothing new
    assert again["results"] == results["synthetic"]["results"]
    set_param(workdir, "distill.datadam.mnist.iterations", 2)  # a different set under the same name
    run_distill("mnist-datadam-ipc2-real")
    assert search("mnist", "synthetic", final=False)["study"] != again["study"]  # never scored with the old trials
    out = compare_proxies("mnist")
    assert len(set(out["code"].values())) == 1 and "different code" not in capsys.readouterr().out
    monkeypatch.setattr("src.nas.study.code_hash", lambda: "0123456789abcdef")  # the scoring code changed
    edited = search("mnist", "synthetic", final=False)
    assert edited["code"] == "0123456789abcdef" and edited["study"] != results["synthetic"]["study"]
    out = compare_proxies("mnist")  # full's study was scored by the old code: said, and recorded
    assert out["code"]["synthetic"] == "0123456789abcdef" != out["code"]["full"] == out["code"]["random"]
    assert "nas-compare mnist: warning: the studies were scored by different code" in capsys.readouterr().out
    saved = json.loads((workdir / "reports/nas/mnist_compare.json").read_text())
    assert saved["synthetic"]["n_archs"] == 4 and -1 <= saved["synthetic"]["spearman"] <= 1
    assert saved["random"]["top1_regret"] >= 0 and out["synthetic"]["speedup"] > 0
    assert (workdir / "reports/nas/mnist_scatter.png").stat().st_size > 1000
    assert (workdir / "reports/nas/mnist_budget.png").stat().st_size > 1000
    curve = saved["synthetic"]["budget_curve"]
    assert [c["epoch"] for c in curve] == [1, 2, 3] and curve[-1]["spearman"] == saved["synthetic"]["spearman"]
    assert curve[0]["speedup"] > curve[-1]["speedup"] > 0  # stopping earlier is faster
    full_path = workdir / "reports/nas/mnist_full.json"  # a study cut short must not be ranked as if whole
    full_path.write_text(json.dumps({**json.loads(full_path.read_text()), "missing": ["d2-w8-none-relu-avg"]}))
    with pytest.raises(UserError, match=r"mnist_full.json: 1 of 4 architectures not scored \(d2-w8-none-relu-avg\); "
                                        r"finish the study: python -m src.nas --proxy full --dataset mnist"):
        compare_proxies("mnist")


def test_bad_stale_after_is_a_one_line_error_before_any_work(workdir):
    with pytest.raises(UserError, match=r"^--stale-after: 0\.0 is not a positive number of seconds$"):
        search("mnist", "full", stale_after=0.0)
