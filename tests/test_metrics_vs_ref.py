"""benchmarks/metrics_vs_ref.py: the working tree's metrics beside a ref's, on a throwaway git repo."""

import json
import subprocess

import benchmarks.metrics_vs_ref as mvr


def git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True)


def test_rows_pair_each_metric_with_the_committed_value(tmp_path, monkeypatch):
    path = tmp_path / "reports/metrics/mnist/datadam_ipc1_real.json"
    path.parent.mkdir(parents=True)
    committed = {"acc_mean": 89.0, "acc_std": 0.5, "gain_over_random": 29.0, "content_hash": "aa", "cpu_bf16": True,
                 "cross": {"mlp": {"acc_mean": 70.0}}}
    path.write_text(json.dumps(committed))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "metrics")
    path.write_text(json.dumps({**committed, "acc_mean": 89.5, "content_hash": "bb", "cpu_bf16": False,
                                "cross": {"mlp": {"acc_mean": 69.0}, "lenet": {"acc_mean": 80.0}}}))
    monkeypatch.setattr(mvr, "ROOT", tmp_path)
    row = mvr.evaluation_rows("HEAD")["mnist/datadam_ipc1_real"]
    assert (row["acc_mean"], row["acc_mean_ref"], row["acc_mean_diff"]) == (89.5, 89.0, 0.5)
    assert row["acc_std_diff"] == 0.0 and not row["content_hash_equal"]
    assert (row["cpu_bf16"], row["cpu_bf16_ref"]) == (False, True)
    assert row["cross_mlp"]["acc_mean_diff"] == -1.0
    assert row["cross_lenet"] == {"acc_mean": 80.0}  # nothing committed to compare with: no _ref, no _diff
