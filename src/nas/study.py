"""One Optuna study: every architecture of the grid trained under one proxy, scored on real
validation images (never the test set, never training accuracy).

Proxies: `full` (the real training split), `synthetic` (a distilled set read from
data/distilled/, never recomputed here), `random` (a random real subset of the distilled set's
size). Each candidate trains under `seeds` seeds at once (batched over seeds) with the proxy's
budget; its score is the mean validation accuracy and the spread is recorded.

Grid studies are exact: the grid is enqueued once by whichever worker creates the study (study
creation is atomic in every Optuna storage) and workers pop waiting trials, so several processes
or machines can share one study (`--storage postgresql://...`) with no trial lost or repeated
(on sqlite too: see _serialize_sqlite). A trial that raises puts its point back, so an interrupted
study finishes when rerun, and a killed worker's trial is taken over once its heartbeat stops.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from src.config import NAS, ModelSpec
from src.data.fsutil import md5sum
from src.data.store import Dataset
from src.nas import NAS_DIR, STALE_S
from src.nas.space import arch_key, choices, grid
from src.protocol import ModelBatch, Protocol, predict, random_subset, train_models
from src.runtime import generator

PROXIES = ("full", "synthetic", "random")


@dataclass
class ProxyData:
    x: torch.Tensor  # normalised float images
    y: torch.Tensor  # int labels or soft labels
    name: str
    inputs: list[Path]
    budget_epochs: int
    batch_size: int
    lr: float
    dsa_strategy: str
    fingerprint: str = ""  # content identity of the images trained and scored on (names the study)


def proxy_data(ds: Dataset, dataset: str, proxy: str, cfg: NAS, seed: int) -> ProxyData:
    from src.distill import synthetic
    from src.errors import UserError

    if proxy not in PROXIES:
        raise UserError(f"--proxy: {proxy!r} is not one of {', '.join(PROXIES)}")
    processed = Path("data/processed") / dataset / "data.safetensors"
    data_md5 = md5sum(processed)  # train and validation images
    if proxy == "full":
        return ProxyData(ds.normalize(ds.train.x), ds.train.y, "full", [processed], cfg.full.epochs,
                         cfg.full.batch_size, cfg.full.lr, "none", data_md5)
    path = Path("data/distilled") / dataset / f"{cfg.distilled}.safetensors"
    syn = synthetic.load_for(path, ds)
    if proxy == "synthetic":  # the set's content hash, not its file md5 (metadata differs between identical rebuilds)
        return ProxyData(syn.images, syn.labels, cfg.distilled, [path, processed], cfg.proxy.epochs,
                         cfg.proxy.batch_size, float(syn.lr) if syn.lr is not None else cfg.proxy.lr, cfg.dsa_strategy,
                         f"{data_md5}-{syn.meta['content_hash']}")
    ipc = int(syn.meta["ipc"])  # random: a real subset of the distilled set's size
    idx = random_subset(ds.train.y, ipc, ds.num_classes, generator(seed, "cpu", "nas-random", dataset, ipc))
    return ProxyData(ds.normalize(ds.train.x[idx]), ds.train.y[idx], f"random_ipc{ipc}", [processed],
                     cfg.proxy.epochs, cfg.proxy.batch_size, cfg.proxy.lr, cfg.dsa_strategy, data_md5)


def score_candidate(spec: ModelSpec, data: ProxyData, ds: Dataset, seeds: int, seed: int, device: torch.device,
                    on_eval=None, eval_points: int = 5, curve_images: int | None = None) -> dict:
    """Train `seeds` networks of one architecture on the proxy and score them on ds.val.

    The seeds train as one vmapped batch on CUDA and one after another on the CPU (see
    protocol.evaluate_set). Validation runs at `eval_points` epochs, the last the final one;
    the earlier points score on the first `curve_images` validation images only (cheaper: on the
    CPU profile five full-split checkpoints cost as much as the proxy's training). The result's
    `curve` gives, per checkpoint, the accuracy and the seconds spent until then (training and
    scoring of every seed), so nas-compare can rank as if the budget had stopped there.
    `on_eval(epoch, accs)` gets each checkpoint's per-seed accuracies."""
    t0 = time.perf_counter()
    proto = Protocol(epochs=data.budget_epochs, batch_size=data.batch_size, lr=data.lr, dsa_strategy=data.dsa_strategy)
    every = max(1, data.budget_epochs // eval_points)
    points = [e for e in range(1, data.budget_epochs + 1) if e % every == 0 or e == data.budget_epochs][-eval_points:]
    n_curve = len(ds.val.y) if curve_images is None else min(curve_images, len(ds.val.y))
    accs: dict[int, list[float]] = {}
    seconds: dict[int, float] = dict.fromkeys(points, 0.0)

    def val_accs(mb: ModelBatch, n: int) -> list[float]:
        logits = predict(mb, ds.val.x[:n], ds.normalize)
        return ((logits.argmax(-1).cpu() == ds.val.y[:n]).float().mean(1) * 100).tolist()

    groups = [(0, seeds)] if device.type == "cuda" else [(s, 1) for s in range(seeds)]
    x, y = data.x.to(device), data.y.to(device)
    n_params = 0
    for first, n in groups:
        t_group = time.perf_counter()

        def on_epoch(epoch: int, mb: ModelBatch) -> None:
            if epoch + 1 in seconds:
                final = epoch + 1 == data.budget_epochs
                accs.setdefault(epoch + 1, []).extend(val_accs(mb, len(ds.val.y) if final else n_curve))
                seconds[epoch + 1] += time.perf_counter() - t_group  # this group's time to reach the point

        models = ModelBatch(spec, ds.channels, ds.num_classes, ds.im_size, n, seed, device, first=first)
        gen = generator(seed, device, "nas-train", arch_key(spec), first, n)
        train_models(models, x, y, proto, gen, on_epoch=on_epoch)
        n_params = sum(v[0].numel() for v in models.params.values())
    if on_eval is not None:
        for epoch in points:
            on_eval(epoch, accs[epoch])
    final = accs[data.budget_epochs]
    curve = [{"epoch": e, "val_mean": sum(accs[e]) / len(accs[e]), "seconds": seconds[e],
              "images": len(ds.val.y) if e == data.budget_epochs else n_curve} for e in points]
    return {"val_accs": final, "val_mean": sum(final) / len(final),
            "val_std": float(torch.tensor(final).std(unbiased=False)) if len(final) > 1 else 0.0,
            "seconds": time.perf_counter() - t0, "params": n_params, "curve": curve}


# The code a candidate's score depends on, under src/: the NAS stages' code deps in dvc.yaml (a
# test keeps the two lists equal). Not compare.py (its own stage), ui.py or tracking.py (no effect on scores).
SCORE_CODE = ("nas/__init__.py", "nas/__main__.py", "nas/study.py", "nas/space.py", "protocol.py", "models",
              "augment.py", "train.py", "data", "distill/synthetic.py", "config.py", "runtime.py")


def code_hash(root: Path = Path(__file__).resolve().parents[1]) -> str:
    """sha256 over the SCORE_CODE Python files (relative path and bytes, in path order). It names
    the study, because the scores depend on that code as much as on the data: a study kept in its
    storage after the code changed would otherwise be resumed, complete, by `dvc repro`, which
    would hand back trials scored by the old code."""
    import hashlib

    files = sorted(f for entry in SCORE_CODE for f in ([root / entry] if entry.endswith(".py")
                                                        else (root / entry).rglob("*.py")))
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def study_name(dataset: str, proxy: str, data_name: str, cfg: NAS, seed: int, sampler: str, fingerprint: str = "",
               device: str = "cpu", code: str = "") -> str:
    """Names the study by everything its scores depend on: settings, data content (a rebuilt
    distilled set or re-prepared data starts a new study), device type (CPU and CUDA kernels round
    differently) and code (see code_hash), so no study resumes trials it could not reproduce."""
    from src.distill.synthetic import params_hash

    h = params_hash({"cfg": cfg.model_dump(), "seed": seed, "sampler": sampler, "data": data_name,
                     "fingerprint": fingerprint, "device": device, "code": code})[:8]
    return f"{dataset}-{proxy}-{data_name}-{sampler}-{h}"


def default_storage(dataset: str) -> str:
    NAS_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{NAS_DIR / f'{dataset}_studies.db'}"


def rdb_storage(url: str, attempts: int = 20):
    """An Optuna RDB storage; retried because two workers starting together on a new database
    race to create its schema. sqlite connections wait for locks instead of failing at once."""
    import optuna
    import sqlalchemy.exc

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    if url.startswith("sqlite"):
        _serialize_sqlite(storage.engine)
    return storage


def _serialize_sqlite(engine) -> None:
    """Make every sqlite transaction take the write lock when it begins (BEGIN IMMEDIATE).

    Optuna pops a waiting trial by reading its state and then writing RUNNING, and refuses a
    second `tell` by reading the state before writing COMPLETE. Postgres and MySQL lock the row
    for that (SELECT ... FOR UPDATE); Python's sqlite3 opens no transaction before a SELECT, so
    two workers could both read WAITING and both run the same grid point. Holding the lock from
    the first read makes each read-check-write atomic. Measured by benchmarks/nas_workers_stress.py
    (4 workers, 60 rounds): Optuna's storage as it comes spoiled 34 rounds, this one none."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy, not the driver, open transactions

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while creating the schema predate the listeners


def open_study(name: str, storage, space: dict[str, list], sampler: str, seed: int, grid_points: list[dict]):
    """Create the study (and enqueue the grid) or join an existing one. `storage`: a URL (opened
    with rdb_storage) or an Optuna storage object."""
    import optuna

    if isinstance(storage, str):
        storage = rdb_storage(storage)

    samplers = {"grid": lambda: optuna.samplers.GridSampler(space, seed=seed),
                "tpe": lambda: optuna.samplers.TPESampler(seed=seed)}
    pruner = optuna.pruners.NopPruner() if sampler == "grid" else optuna.pruners.MedianPruner(n_warmup_steps=1)
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                    sampler=samplers[sampler](), pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=samplers[sampler](), pruner=pruner)
    if sampler == "grid":
        for point in grid_points:
            study.enqueue_trial(point, user_attrs={"grid_point": True})
        study.set_user_attr("grid_size", len(grid_points))
    return study


HEARTBEAT_S = 10.0  # a worker stamps its running trial this often (more often if stale_s is short)


def run_worker(study, objective, sampler: str, n_trials: int | None, wait_s: float = 30.0,
               stale_s: float = STALE_S) -> int:
    """Work through the study. Grid: pop enqueued points until none is left (a trial that another
    worker's race turned into a fresh sample is discarded as FAIL), then wait for the trials other
    workers are still running, and take over those of killed workers (no heartbeat for `stale_s`;
    stamps come at least three times per `stale_s`; workers compare their own clocks with the
    stamps of others, so `stale_s` must be far above the clock skew between machines).
    A trial that raises (Ctrl-C included) puts its point back, so a rerun finishes the study.
    Returns the number of trials this worker completed. TPE: n_trials new trials."""
    import optuna
    from optuna.trial import TrialState

    done = 0
    if sampler == "tpe":
        study.optimize(objective, n_trials=n_trials, catch=())
        return n_trials or 0
    deadline = time.time() + wait_s
    while "grid_size" not in study.user_attrs:  # the creator is still enqueueing
        if time.time() > deadline:
            raise RuntimeError(f"study {study.study_name}: the grid was never enqueued")
        time.sleep(0.2)
    while True:
        while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial = study.ask()
            if not trial.user_attrs.get("grid_point"):  # lost the race for the last waiting point
                study.tell(trial, state=TrialState.FAIL)
                continue
            try:
                with _heartbeat(trial, min(HEARTBEAT_S, stale_s / 3)):
                    value = objective(trial)
            except optuna.TrialPruned:
                _finish(study, trial.number, TrialState.PRUNED)
                continue
            except BaseException:
                _requeue(study, trial.number)
                raise
            done += _finish(study, trial.number, TrialState.COMPLETE, value)  # False: taken over meanwhile
            if n_trials is not None and done >= n_trials:
                return done
        # the queue ran dry: let the others' last trials land in this report, redo killed workers' ones
        if not [n for n in wait_for_running(study, stale_s) if _requeue(study, n)]:
            return done


def _finish(study, number: int, state, value: float | None = None) -> bool:
    """Tell the study a trial's outcome; False if it is already finished (another worker took it
    over as stale). The check and the write share one transaction, so exactly one teller wins."""
    import optuna

    try:
        study.tell(number, value, state=state)
        return True
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
        return False


def _requeue(study, number: int) -> bool:
    """Fail a trial and enqueue its grid point again, unless another worker already did."""
    from optuna.trial import TrialState

    if not _finish(study, number, TrialState.FAIL):
        return False
    (frozen,) = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    study.enqueue_trial(frozen.system_attrs["fixed_params"], user_attrs={"grid_point": True})
    return True


@contextmanager
def _heartbeat(trial, every_s: float = HEARTBEAT_S):
    """Stamp the trial with the time every `every_s` seconds while its objective runs, from a
    thread, so other workers can tell a long trial from a dead worker's. The first stamp comes
    after `every_s`: until then the trial's start time serves (wait_for_running)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            trial.set_user_attr("heartbeat", time.time())

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def wait_for_running(study, stale_s: float = STALE_S, poll_s: float = 1.0) -> list[int]:
    """Block while other workers still run trials of this study, so the report written next holds
    every point. Returns the RUNNING trials with no heartbeat for `stale_s` seconds (their workers
    were killed without telling the study), which are not waited for."""
    from optuna.trial import TrialState

    while True:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        now = time.time()
        stale = [t.number for t in running
                 if now - t.user_attrs.get("heartbeat", t.datetime_start.timestamp()) > stale_s]
        if len(stale) == len(running):
            return stale
        time.sleep(poll_s)


def collect(study) -> dict[str, dict]:
    """One result per architecture: the earliest COMPLETE trial of each grid point."""
    from optuna.trial import TrialState

    out = {}
    for t in sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        key = t.user_attrs["arch"]
        if key not in out:
            out[key] = {"number": t.number, "params": t.params, **{k: t.user_attrs[k] for k in
                        ("val_accs", "val_mean", "val_std", "seconds", "n_params", "mlflow_run_id")},
                        "curve": t.user_attrs.get("curve", [])}
    return out


__all__ = ["PROXIES", "choices", "grid", "proxy_data", "score_candidate", "open_study", "run_worker", "wait_for_running",
           "collect"]
