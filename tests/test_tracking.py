import pytest

from src import tracking


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DD_TRACKING", "1")
    return uri


def test_run_records_params_metrics_provenance(store, tmp_path):
    import mlflow

    inp = tmp_path / "input.bin"
    inp.write_bytes(b"abc")
    with tracking.run("unit", "unit-run", {"group": {"lr": 0.1, "sizes": [1, 2]}}, inputs=[inp]) as log:
        for step in range(3):
            log.metrics({"loss": 1.0 / (step + 1)}, step=step)
        run_id = log.run_id
    client = mlflow.tracking.MlflowClient(store)
    run = client.get_run(run_id)
    assert run.data.params["group.lr"] == "0.1" and run.data.params["group.sizes"] == "[1, 2]"
    assert run.data.params[f"input_md5.{inp}"] == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")
    assert run.data.tags["stage"] == "unit"
    assert len(run.data.tags["git_commit"]) in (40, len("unknown")) and run.data.tags["git_dirty"] in ("true", "false")
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0, 0.5, pytest.approx(1 / 3)]


def test_run_records_the_environment_that_ran_it(store):
    """The thread count is read when the run starts: CPU numbers depend on it."""
    import mlflow
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tracking.run("unit", "env-run", {}) as log:
            run_id = log.run_id
    finally:
        torch.set_num_threads(before)
    tags = mlflow.tracking.MlflowClient(store).get_run(run_id).data.tags
    assert tags["env.torch_threads"] == "1" and tags["env.torch"] == torch.__version__
    assert tags["env.cpu"] and tags["env.python"].count(".") == 2
    assert ("env.gpu" in tags) == torch.cuda.is_available()


def test_disabled_tracking_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.setenv("DD_TRACKING", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'x.db'}")
    with tracking.run("unit", "off", {"a": 1}) as log:
        log.metrics({"x": 1.0})
        assert log.run_id is None
    assert not (tmp_path / "x.db").exists()


def test_flatten_nested_params():
    assert tracking.flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": (1, 2)}) == {"a.b": 1, "a.c.d": "x", "e": "[1, 2]"}
