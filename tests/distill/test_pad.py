
import pytest
import torch

from src.config import parse_params
from src.data import store
from src.distill import pad
from src.distill.__main__ import run_distill
from src.distill.checkpoint import NonFiniteError
from src.distill.experts import Experts
from src.distill.synthetic import load as load_set
from src.errors import ConfigError, UserError
from src.evaluate import evaluate_distilled
from tests.conftest import PAD, set_param


def test_pad_distills_soft_labels_and_lr_then_evaluates(pad_project):
    out = run_distill("mnist-pad-ipc2-real")
    s = load_set(out, "mnist")
    assert s.images.shape == (20, 1, 28, 28) and s.soft and s.labels.shape == (20, 10)
    assert torch.allclose(s.labels.sum(1), torch.ones(20), atol=1e-5)
    assert s.labels.argmax(1).tolist() == torch.arange(10).repeat_interleave(2).tolist()
    assert s.lr is not None and float(s.lr) > 0 and s.meta["method"] == "pad" and s.meta["alpha"] == 0.25
    assert s.meta["n_experts"] == 3 and s.meta["peak_mem_mb"] > 0
    assert sorted(s.meta["inputs"]) == ["data/processed/mnist/data.safetensors", "models/experts/mnist/manifest.json"]
    assert (pad_project / "reports/figures/mnist/pad_ipc2_real_end.png").is_file()
    from src.evaluate import evaluate_random

    evaluate_random("mnist", 2)
    m = evaluate_distilled("mnist-pad-ipc2-real")
    assert m["method"] == "pad" and m["n_models"] == 2 and 0 <= m["acc_mean"] <= 100
    assert m["learned_lr"] == pytest.approx(float(s.lr))


def _load(project):
    params = parse_params(__import__("yaml").safe_load((project / "params.yaml").read_text()))
    return store.load("mnist"), Experts.open(project / "models/experts/mnist", "mnist"), params.distill.pad["mnist"]


def test_pad_init_uses_correctly_classified_real_images(pad_project):
    ds, ex, cfg = _load(pad_project)
    r = pad.distill(ds, ex, cfg.model_copy(update={"iterations": 1}), 2, 0, torch.device("cpu"))
    train = ds.normalize(ds.train.x)
    for img, probs in zip(r.init_images, r.labels):
        hit = (train - img).abs().flatten(1).amax(1) < 1e-5
        assert hit.any() and int(ds.train.y[hit][0]) == int(probs.argmax())


def test_pad_resumes_to_identical_result(pad_project, tmp_path):
    ds, ex, cfg = _load(pad_project)
    cpu = torch.device("cpu")
    full = pad.distill(ds, ex, cfg, 2, 0, cpu)
    ckpt = tmp_path / "pad.safetensors"

    class Killed(Exception):
        pass

    def kill(it, row):
        if it >= 4:
            raise Killed
    with pytest.raises(Killed):
        pad.distill(ds, ex, cfg, 2, 0, cpu, ckpt, "k", on_log=kill)
    resumed = pad.distill(ds, ex, cfg, 2, 0, cpu, ckpt, "k")
    assert resumed.resumed_from == 2
    assert torch.equal(resumed.images, full.images) and torch.equal(resumed.labels, full.labels)
    assert torch.equal(resumed.lr, full.lr)
    assert full.losses and not torch.equal(full.images, full.init_images)


def test_pad_checkpointed_unroll_matches_full(pad_project):
    ds, ex, cfg = _load(pad_project)
    a = pad.distill(ds, ex, cfg.model_copy(update={"unroll": "full", "iterations": 2}), 2, 0, torch.device("cpu"))
    b = pad.distill(ds, ex, cfg.model_copy(update={"unroll": "checkpointed", "iterations": 2}), 2, 0, torch.device("cpu"))
    assert b.unroll == "checkpointed"
    assert torch.allclose(a.images, b.images, atol=1e-5) and torch.allclose(a.lr, b.lr)


def test_nan_stops_with_a_clear_error_and_keeps_the_checkpoint(pad_project, tmp_path, monkeypatch):
    ds, ex, cfg = _load(pad_project)
    ckpt = tmp_path / "pad.safetensors"
    calls = []
    real = pad.trajectory_loss

    def poisoned(*a, **k):
        calls.append(1)
        out = real(*a, **k)
        return out * float("nan") if len(calls) > 3 else out
    monkeypatch.setattr(pad, "trajectory_loss", poisoned)
    with pytest.raises(NonFiniteError, match="last good checkpoint"):
        pad.distill(ds, ex, cfg, 2, 0, torch.device("cpu"), ckpt, "k")
    assert ckpt.is_file()


def test_hard_label_mode_keeps_one_hot_labels(pad_project):
    ds, ex, cfg = _load(pad_project)
    r = pad.distill(ds, ex, cfg.model_copy(update={"soft_labels": False, "iterations": 2}), 2, 0, torch.device("cpu"))
    assert r.labels.dtype == torch.long and r.labels.tolist() == torch.arange(10).repeat_interleave(2).tolist()
    assert not torch.equal(r.images, r.init_images)


def test_threshold_skips_updates(pad_project):
    ds, ex, cfg = _load(pad_project)
    r = pad.distill(ds, ex, cfg.model_copy(update={"threshold": 1e-9, "iterations": 3}), 2, 0, torch.device("cpu"))
    assert r.skipped == 3 and torch.equal(r.images, r.init_images)


def test_window_beyond_the_kept_epochs_is_refused(pad_project):
    ds, ex, cfg = _load(pad_project)
    with pytest.raises(UserError, match="keep_epochs"):
        pad.distill(ds, ex, cfg.model_copy(update={"max_start_epoch": 3}), 2, 0, torch.device("cpu"))


def test_config_keeps_pad_runs_apart():
    base = {"random": {"m": {"dataset": "mnist", "ipc": 1}}}
    run = {"dataset": "mnist", "method": "pad", "ipc": 1}
    with pytest.raises(ConfigError, match="belongs in pad_runs"):
        parse_params({**base, "runs": {"x": run}})
    with pytest.raises(ConfigError, match="expert_datasets"):
        parse_params({**base, "pad_runs": {"x": run}})
    with pytest.raises(ConfigError, match="min_start_epoch < start_epoch"):
        parse_params({"distill": {"pad": {"mnist": {"start_epoch": 30, "max_start_epoch": 20}}}})
    assert parse_params({**base, "pad_runs": {"x": run}, "expert_datasets": ["mnist"]}).pad_runs["x"].ipc == 1


def test_lr_init_sets_the_students_first_lr(pad_project):
    ds, ex, cfg = _load(pad_project)
    frozen = {"lr_lr": 0.0, "iterations": 2}
    default = pad.distill(ds, ex, cfg.model_copy(update=frozen), 2, 0, torch.device("cpu"))
    fast = pad.distill(ds, ex, cfg.model_copy(update={**frozen, "lr_init": 0.2}), 2, 0, torch.device("cpu"))
    assert float(default.lr) == pytest.approx(ex.lr_teacher) and float(fast.lr) == pytest.approx(0.2)
    assert not torch.equal(default.images, fast.images)  # the unroll really used the other step size


def test_eval_lr_protocol_keeps_the_learned_lr_out_of_training(pad_project):
    set_param(pad_project, "distill.pad.mnist", {**PAD, "eval_lr": "protocol", "iterations": 2})
    s = load_set(run_distill("mnist-pad-ipc2-real"), "mnist")
    assert s.lr is None and s.meta["learned_lr"] > 0  # learned, recorded, but not what the set trains at
    from src.evaluate import set_lr

    assert set_lr(s) is None


def _minibatches(at_once: bool, soft: bool = True):
    from src.augment import DSA

    g = torch.Generator().manual_seed(3)
    images = torch.randn(12, 1, 8, 8, generator=g, requires_grad=True)
    labels = torch.randn(12, 4, generator=g, requires_grad=True) if soft else torch.arange(12) % 4
    dsa = DSA("color_crop_cutout_scale_rotate")
    idx, params = pad.draw_steps(12, 5, 7, dsa, (8, 8), torch.Generator().manual_seed(0), torch.device("cpu"))
    batches = pad.Minibatches(images, labels, soft, dsa, idx, params, at_once=at_once)
    return images, labels, batches


def test_minibatches_are_drawn_once_and_identical_either_way():
    """All N steps' indices and DSA parameters are drawn up front: each step holds distinct images,
    asking twice gives the same batch (the checkpointed unroll asks twice), and augmenting all
    steps at once gives what augmenting step by step gives."""
    _, _, at_once = _minibatches(True)
    _, _, lazy = _minibatches(False)
    assert at_once.idx.shape == (5, 7)
    assert all(len(set(row.tolist())) == 7 for row in at_once.idx)
    assert not torch.equal(at_once.idx[0], at_once.idx[1])  # a fresh draw per step
    for s in range(5):
        (xa, ya), (xl, yl), (xl2, _) = at_once(s), lazy(s), lazy(s)
        assert xa.shape == (7, 1, 8, 8) and ya.shape == (7, 4)
        assert torch.allclose(xa, xl, atol=1e-6) and torch.allclose(ya, yl) and torch.equal(xl, xl2)
        assert torch.allclose(ya.sum(1), torch.ones(7))  # soft labels are probabilities


def test_minibatches_pass_gradients_to_images_and_label_logits():
    images, labels, batches = _minibatches(True)
    x, y = batches(2)
    (x.sum() + (y * torch.arange(4.0)).sum()).backward()
    used = torch.zeros(12, dtype=torch.bool)
    used[batches.idx[2]] = True
    assert (images.grad.flatten(1).abs().sum(1) > 0).eq(used).all()  # only step 2's images get a gradient
    assert (labels.grad.abs().sum(1) > 0).eq(used).all()
    _, hard, batches = _minibatches(False, soft=False)
    assert torch.equal(batches(1)[1], hard[batches.idx[1]])


def test_pad_bf16_on_the_cpu_is_opt_in_seeded_and_close(pad_project, cpu_bf16):
    """amp_cpu runs the unroll in bf16: different numbers (so it really runs), the same ones
    again under the same seed, and images close to the float32 run's."""
    ds, ex, cfg = _load(pad_project)
    cpu = torch.device("cpu")
    run = {"iterations": 3, "soft_labels": False}
    fp32 = pad.distill(ds, ex, cfg.model_copy(update=run), 2, 0, cpu)
    bf16 = pad.distill(ds, ex, cfg.model_copy(update={**run, "amp_cpu": True}), 2, 0, cpu)
    again = pad.distill(ds, ex, cfg.model_copy(update={**run, "amp_cpu": True}), 2, 0, cpu)
    assert not torch.equal(bf16.images, fp32.images) and torch.equal(bf16.images, again.images)
    moved32, moved16 = fp32.images - fp32.init_images, bf16.images - bf16.init_images
    assert torch.nn.functional.cosine_similarity(moved32.flatten(), moved16.flatten(), dim=0) > 0.9


def test_minibatch_gradients_are_reproducible_with_repeated_images():
    """All N steps gathered at once repeat images; their gradients must still sum in a fixed order
    (on the CPU, advanced indexing's backward does not: this caught a run-to-run difference)."""
    from src.augment import DSA

    g = torch.Generator().manual_seed(0)
    images = torch.randn(100, 1, 28, 28, generator=g, requires_grad=True)
    labels = torch.randn(100, 10, generator=g, requires_grad=True)
    dsa = DSA("none")
    idx, params = pad.draw_steps(100, 30, 50, dsa, (28, 28), torch.Generator().manual_seed(1), torch.device("cpu"))
    weight = torch.randn(30, 50, 1, 28, 28, generator=g)
    grads = []
    for _ in range(4):
        images.grad = labels.grad = None
        x, y = pad.Minibatches(images, labels, True, dsa, idx, params, at_once=True).at_once
        ((x * weight).sum() + (y * weight[..., 0, 0, :10]).sum()).backward()
        grads.append((images.grad.clone(), labels.grad.clone()))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(grads, grads[1:]))
