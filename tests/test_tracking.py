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


def test_git_state_counts_source_changes_not_pipeline_outputs(tmp_path):
    """Inside `dvc repro` the earlier stages' outputs and dvc.lock are modified: not dirty. An edit to
    anything else is, and is named."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "reports/metrics").mkdir(parents=True)
    (tmp_path / "reports/metrics/a.json").write_text("{}")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
                                       "    - path: reports/metrics\n      md5: 0\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "old name.py").write_text("y = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    assert tracking.git_state(tmp_path)["git_dirty"] == "false"
    (tmp_path / "reports/metrics/a.json").write_text('{"acc": 1}')
    (tmp_path / "dvc.lock").write_text((tmp_path / "dvc.lock").read_text() + "# rerun\n")
    state = tracking.git_state(tmp_path)
    assert len(state["git_commit"]) == 40 and state["git_dirty"] == "false" and "git_dirty_paths" not in state
    (tmp_path / "code.py").write_text("x = 2\n")
    git("mv", "old name.py", "new name.py")
    state = tracking.git_state(tmp_path)
    assert state["git_dirty"] == "true" and state["git_dirty_paths"] == "code.py new name.py"
    git("commit", "-qam", "edit")
    (tmp_path / ".gitignore").write_text("scratch/\n")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch/notes.txt").write_text("ignored")
    (tmp_path / "reports/metrics/b.json").write_text("{}")  # a new output of a stage in dvc.lock
    git("add", ".gitignore")
    git("commit", "-qm", "ignore")
    assert tracking.git_state(tmp_path)["git_dirty"] == "false"
    (tmp_path / "helper.py").write_text("z = 1\n")  # untracked, not ignored: it imports like committed code
    assert tracking.git_state(tmp_path)["git_dirty_paths"] == "helper.py"


def test_git_state_outside_a_repository(tmp_path):
    assert tracking.git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "false"}
