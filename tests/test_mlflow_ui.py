"""`mlflow server` on the tracking store of a small pipeline run, read back through its REST API:
distillation, evaluation and NAS parent/child runs with their metrics and image artifacts."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from src.evaluate import evaluate_distilled, evaluate_random
from src.nas.compare import compare_proxies
from tests.nas.test_search import small_pipeline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_readable_through_mlflow_server(workdir, mnist_like, monkeypatch):
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DD_TRACKING", "1")
    monkeypatch.setenv("DD_SYSTEM_METRICS_INTERVAL", "0.5")  # tiny runs: sample often enough to see a value
    small_pipeline(workdir, mnist_like)
    compare_proxies("mnist")
    evaluate_random("mnist", 2)
    evaluate_distilled("mnist-datadam-ipc2-real")

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # up to about 3 min on a slow, loaded machine
            try:
                if requests.get(f"{base}/health", timeout=5).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
                pass
            time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up")
        exp = requests.get(f"{base}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "ddkit"}).json()
        exp_id = exp["experiment"]["experiment_id"]
        runs = requests.post(f"{base}/api/2.0/mlflow/runs/search",
                             json={"experiment_ids": [exp_id], "max_results": 500}).json()["runs"]
        by_stage = {}
        for r in runs:
            tags = {t["key"]: t["value"] for t in r["data"].get("tags", [])}
            by_stage.setdefault(tags["stage"], []).append((r, tags))
        assert {"prepare", "distill", "random", "evaluate", "nas", "nas-trial", "nas-compare"} <= set(by_stage)
        distill_run, tags = by_stage["distill"][0]
        assert len(tags["git_commit"]) >= 7 and {m["key"] for m in distill_run["data"]["metrics"]} >= {"loss", "seconds"}
        arts = requests.get(f"{base}/api/2.0/mlflow/artifacts/list",
                            params={"run_id": distill_run["info"]["run_id"]}).json()["files"]
        assert {"datadam_ipc2_real_start.png", "datadam_ipc2_real_end.png"} <= {a["path"] for a in arts}
        evaluate_run, _ = by_stage["evaluate"][0]
        assert "acc_mean" in {m["key"] for m in evaluate_run["data"]["metrics"]}
        parents = {r["info"]["run_id"] for r, _ in by_stage["nas"]}
        children = by_stage["nas-trial"]
        assert len(parents) == 3 and len(children) == 12  # 3 proxies x 4 architectures
        assert all(t["mlflow.parentRunId"] in parents for _, t in children)
        assert all("val_acc_final" in {m["key"] for m in r["data"]["metrics"]} for r, _ in children)
        assert any(m["key"].startswith("system/") for r in runs for m in r["data"].get("metrics", []))
    finally:
        server.terminate()
        server.wait(10)
