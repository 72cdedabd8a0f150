import math

import pytest
import torch

from src.config import DataDAMSpec, ModelSpec
from src.data.store import Dataset, Split
from src.distill import datadam
from src.distill.checkpoint import NonFiniteError
from src.distill.datadam import ClassSampler, attention_map, datadam_loss


def slow_reference_loss(real_feats, real_emb, syn_feats, syn_emb, real_y, syn_y, num_classes, p, lam):
    """The method written out plainly: loops over layers, classes and samples."""
    total = 0.0
    for layer in range(len(real_feats) - 1):
        for c in range(num_classes):
            def mean_att(feats, ys):
                maps = []
                for i in range(len(ys)):
                    if ys[i] != c:
                        continue
                    f = feats[layer][i]
                    a = torch.zeros(f.shape[1] * f.shape[2], dtype=torch.float64)
                    for ch in range(f.shape[0]):
                        a += f[ch].double().abs().flatten() ** p
                    maps.append(a / math.sqrt(float((a ** 2).sum())))
                return torch.stack(maps).mean(0)
            total += 100 * float(((mean_att(real_feats, real_y) - mean_att(syn_feats, syn_y)) ** 2).sum())
    for c in range(num_classes):
        diff = real_emb[real_y == c].double().mean(0) - syn_emb[syn_y == c].double().mean(0)
        total += 100 * lam * float((diff ** 2).sum())
    return total


@pytest.mark.parametrize("power", [1.0, 2.0, 3.0, 4.0])
def test_loss_matches_plain_reference(power):
    g = torch.Generator().manual_seed(0)
    K, br, ipc = 3, 4, 2
    real_feats = [torch.randn(K * br, 5, 6, 6, generator=g), torch.randn(K * br, 5, 3, 3, generator=g),
                  torch.randn(K * br, 5, 1, 1, generator=g)]
    syn_feats = [torch.randn(K * ipc, 5, 6, 6, generator=g), torch.randn(K * ipc, 5, 3, 3, generator=g),
                 torch.randn(K * ipc, 5, 1, 1, generator=g)]
    real_emb, syn_emb = torch.randn(K * br, 7, generator=g), torch.randn(K * ipc, 7, generator=g)
    ry, sy = torch.arange(K).repeat_interleave(br), torch.arange(K).repeat_interleave(ipc)
    att, emb = datadam_loss([attention_map(f, power) for f in real_feats[:-1]], real_emb,
                            [attention_map(f, power) for f in syn_feats[:-1]], syn_emb, K, lam=0.01)
    want = slow_reference_loss(real_feats, real_emb, syn_feats, syn_emb, ry, sy, K, power, 0.01)
    assert float(att + emb) == pytest.approx(want, rel=1e-4)


def test_attention_is_unit_norm_and_ignores_sign():
    f = torch.randn(4, 8, 5, 5)
    a = attention_map(f, 4.0)
    assert a.shape == (4, 25) and torch.allclose(a.norm(dim=1), torch.ones(4))
    assert torch.allclose(a, attention_map(-f, 4.0))


def test_class_sampler_draws_distinct_images_of_each_class():
    y = torch.tensor([2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 2, 1])
    idx = ClassSampler(y, 3)(3, torch.Generator().manual_seed(0))
    assert y[idx].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(set(idx.tolist())) == 9


def tiny_dataset(n_per_class=20, K=3, size=12):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(K).repeat_interleave(n_per_class)
    x = torch.randint(0, 60, (len(y), 1, size, size), generator=g, dtype=torch.uint8)
    for c in range(K):
        x[y == c, :, 2 + 3 * c: 4 + 3 * c, 1:11] = 250
    split = Split(x, y)
    return Dataset("toy", tuple(map(str, range(K))), (0.2,), (0.3,), split, Split(x[:0], y[:0]), split)


def cfg(**kw):
    base = dict(model=ModelSpec(depth=2, width=8), iterations=12, batch_real=5, checkpoint_every=4, log_every=4,
                dsa_strategy="color_crop_cutout_scale_rotate", amp=False, compile=False)
    return DataDAMSpec(**{**base, **kw})


def test_distill_reduces_loss_and_is_seeded():
    ds = tiny_dataset()
    a = datadam.distill(ds, cfg(iterations=40, log_every=10), 2, "noise", 0, torch.device("cpu"))
    b = datadam.distill(ds, cfg(iterations=40, log_every=10), 2, "noise", 0, torch.device("cpu"))
    assert torch.equal(a.images, b.images)
    assert sum(a.losses[-10:]) < sum(a.losses[:10])
    assert not torch.equal(a.images, a.init_images)
    c = datadam.distill(ds, cfg(iterations=40, log_every=10), 2, "noise", 1, torch.device("cpu"))
    assert not torch.equal(a.images, c.images)


def test_bf16_on_the_cpu_is_opt_in_and_still_learns(cpu_bf16):
    """amp_cpu switches bf16 autocast on for the CPU: it changes the numbers (so it really runs in
    bf16), is itself seeded, and still lowers the loss; amp alone leaves the CPU in fp32."""
    ds = tiny_dataset()
    run = dict(iterations=40, log_every=10)
    fp32 = datadam.distill(ds, cfg(**run), 2, "noise", 0, torch.device("cpu"))
    amp_only = datadam.distill(ds, cfg(amp=True, **run), 2, "noise", 0, torch.device("cpu"))
    bf16 = datadam.distill(ds, cfg(amp=True, amp_cpu=True, **run), 2, "noise", 0, torch.device("cpu"))
    again = datadam.distill(ds, cfg(amp=True, amp_cpu=True, **run), 2, "noise", 0, torch.device("cpu"))
    assert torch.equal(amp_only.images, fp32.images)
    assert not torch.equal(bf16.images, fp32.images)
    assert torch.equal(bf16.images, again.images)
    assert sum(bf16.losses[-10:]) < sum(bf16.losses[:10])


def test_real_init_uses_real_images_of_each_class():
    ds = tiny_dataset()
    r = datadam.distill(ds, cfg(iterations=1, log_every=1), 2, "real", 0, torch.device("cpu"))
    assert r.labels.tolist() == [0, 0, 1, 1, 2, 2]
    for img, label in zip(r.init_images, r.labels):
        matches = (ds.normalize(ds.train.x) - img).abs().flatten(1).amax(1) < 1e-5
        assert matches.any() and ds.train.y[matches][0] == label


def test_given_start_images_replace_the_drawn_start():
    ds = tiny_dataset()
    start = ds.normalize(ds.train.x[torch.tensor([0, 1, 20, 21, 40, 41])])  # the first two of each class
    r = datadam.distill(ds, cfg(iterations=4, log_every=4), 2, "real", 0, torch.device("cpu"), start_images=start)
    drawn = datadam.distill(ds, cfg(iterations=4, log_every=4), 2, "real", 0, torch.device("cpu"))
    assert torch.equal(r.init_images, start) and not torch.equal(drawn.init_images, start)
    assert not torch.equal(r.images, drawn.images)
    with pytest.raises(ValueError, match=r"start_images: shape \(3, 1, 12, 12\), expected \(6, 1, 12, 12\)"):
        datadam.distill(ds, cfg(iterations=4), 2, "real", 0, torch.device("cpu"), start_images=start[:3])


def test_killed_run_resumes_to_identical_images(tmp_path):
    ds = tiny_dataset()
    ckpt = tmp_path / "ckpt.safetensors"
    full = datadam.distill(ds, cfg(), 2, "real", 0, torch.device("cpu"))

    class Killed(Exception):
        pass

    def kill_at_8(it, row):
        if it >= 8:
            raise Killed  # killed at iteration 8, before that iteration's checkpoint: the last one is at 4
    with pytest.raises(Killed):
        datadam.distill(ds, cfg(), 2, "real", 0, torch.device("cpu"), ckpt, "k", on_log=kill_at_8)
    assert ckpt.is_file()
    resumed = datadam.distill(ds, cfg(), 2, "real", 0, torch.device("cpu"), ckpt, "k")
    assert resumed.resumed_from == 4
    assert torch.equal(resumed.images, full.images)
    other = datadam.distill(ds, cfg(), 2, "real", 0, torch.device("cpu"), ckpt, "another-run")
    assert other.resumed_from == 0  # a checkpoint from different settings is never resumed


def test_nan_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    ds = tiny_dataset()
    ckpt = tmp_path / "ckpt.safetensors"
    calls = {"n": 0}
    real_loss = datadam.datadam_loss

    def diverging(*args, **kw):  # the loss turns NaN at iteration 6, after the checkpoint at 4
        calls["n"] += 1
        att, emb = real_loss(*args, **kw)
        return (att * float("nan"), emb) if calls["n"] >= 6 else (att, emb)
    monkeypatch.setattr(datadam, "datadam_loss", diverging)
    with pytest.raises(NonFiniteError, match=r"NaN/inf before iteration 8; last good checkpoint: .*ckpt"):
        datadam.distill(ds, cfg(), 2, "real", 0, torch.device("cpu"), ckpt, "k")
    from src.distill import checkpoint
    state = checkpoint.load(ckpt, "k", torch.Size([6, 1, 12, 12]))
    assert state is not None and torch.isfinite(state["images"]).all()


def test_assignment_schedule_trains_the_network_between_image_steps():
    ds = tiny_dataset()
    r = datadam.distill(ds, cfg(iterations=8, inner_steps=4, net_steps=3, batch_train=6), 2, "real", 0, torch.device("cpu"))
    assert len(r.losses) == 8 and all(math.isfinite(v) for v in r.losses)
