"""nas-compare's budget curve: the ranking at each checkpoint of a proxy's training against full data's final one."""

import pytest

from src.nas.compare import budget_curve


def result(curves: dict[str, list[tuple[int, float, float]]]) -> dict:
    return {"results": {k: {"curve": [{"epoch": e, "val_mean": acc, "seconds": s, "images": 10 if e < 3 else 40}
                                      for e, acc, s in pts]} for k, pts in curves.items()}}


def test_budget_curve_ranks_each_checkpoint_and_times_it():
    full = {"a": 90.0, "b": 80.0, "c": 70.0}
    proxy = result({"a": [(1, 10.0, 1.0), (3, 60.0, 3.0)],  # epoch 1: the reverse ranking, epoch 3: the same
                    "b": [(1, 20.0, 2.0), (3, 50.0, 4.0)],
                    "c": [(1, 30.0, 3.0), (3, 40.0, 5.0)]})
    curve = budget_curve(full, proxy, full_seconds=120.0)
    assert [c["epoch"] for c in curve] == [1, 3] and [c["images"] for c in curve] == [10, 40]
    assert curve[0]["spearman"] == pytest.approx(-1.0) and curve[1]["spearman"] == pytest.approx(1.0)
    assert curve[0]["top1_regret"] == 20.0 and curve[1]["top1_regret"] == 0.0  # picks c (70) then a (90)
    assert curve[0]["seconds"] == 6.0 and curve[0]["speedup"] == 20.0 and curve[1]["speedup"] == 10.0


def test_budget_curve_keeps_only_checkpoints_every_architecture_reached():
    proxy = result({"a": [(1, 10.0, 1.0), (2, 20.0, 2.0)], "b": [(2, 30.0, 2.0)]})
    assert [c["epoch"] for c in budget_curve({"a": 1.0, "b": 2.0}, proxy, 10.0)] == [2]
    assert budget_curve({"a": 1.0}, {"results": {"a": {}}}, 10.0) == []  # trials from before curves were kept
