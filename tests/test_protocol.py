import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from src.config import ModelSpec
from src.protocol import (
    ModelBatch,
    Protocol,
    anchor_subset,
    binary_auc,
    classification_metrics,
    evaluate_set,
    predict,
    random_subset,
    soft_cross_entropy,
    train_models,
)
from src.runtime import generator

SPEC = ModelSpec(depth=2, width=16)


def toy_digits(n_per_class: int, seed: int):
    """Separable 10-class 16x16 images: a bright bar whose row encodes the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(n_per_class)
    x = torch.randint(0, 80, (len(y), 1, 16, 16), generator=g, dtype=torch.uint8)
    for c in range(10):
        x[y == c, :, c + 3, 2:14] = 255
    return x, y


def norm(u):
    return (u.float() / 255 - 0.2) / 0.3


def test_batched_models_match_one_by_one_within_noise():
    x, y = toy_digits(3, 0)
    tx, ty = toy_digits(20, 1)
    proto = Protocol(epochs=40, batch_size=256, dsa_strategy="color_crop_cutout_scale_rotate")
    kw = dict(spec=SPEC, num_classes=10, proto=proto, n_models=4, seed=0, device=torch.device("cpu"))
    batched = evaluate_set(norm(x), y, tx, ty, norm, batched=True, **kw)
    single = evaluate_set(norm(x), y, tx, ty, norm, batched=False, **kw)
    assert len(batched.accs) == len(single.accs) == 4
    assert np.mean(batched.accs) > 50  # learned something (chance is 10 %)
    noise = 3 * max(np.std(batched.accs), np.std(single.accs), 1.0)
    assert abs(np.mean(batched.accs) - np.mean(single.accs)) <= noise


def test_batched_training_is_n_independent_trainings():
    """With identical inputs, model i of a batch follows exactly the trajectory of model i trained alone."""
    x, y = toy_digits(2, 0)
    proto = Protocol(epochs=3, batch_size=256, dsa_strategy="none")
    dev = torch.device("cpu")
    both = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=5, device=dev)
    train_models(both, norm(x), y, proto, generator(0, "cpu", "t"))
    alone = ModelBatch(SPEC, 1, 10, (16, 16), 1, seed=5, device=dev, first=1)
    train_models(alone, norm(x), y, proto, generator(0, "cpu", "t"))
    # full-batch steps: the order of samples only changes float summation order
    for k in both.params:
        assert torch.allclose(both.params[k][1], alone.params[k][0], atol=1e-4), k


def test_same_seed_same_numbers():
    x, y = toy_digits(2, 0)
    tx, ty = toy_digits(5, 1)
    proto = Protocol(epochs=5, dsa_strategy="color_crop_cutout_scale_rotate")
    kw = dict(spec=SPEC, num_classes=10, proto=proto, n_models=2, device=torch.device("cpu"))
    a = evaluate_set(norm(x), y, tx, ty, norm, seed=1, **kw)
    b = evaluate_set(norm(x), y, tx, ty, norm, seed=1, **kw)
    assert a.accs == b.accs and a.balanced_accs == b.balanced_accs
    w1 = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=1, device=torch.device("cpu")).params["features.0.conv.weight"]
    w2 = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=2, device=torch.device("cpu")).params["features.0.conv.weight"]
    assert not torch.equal(w1, w2) and not torch.equal(w1[0], w1[1])  # seeds differ, models differ


def test_evaluation_reports_progress_per_model_without_changing_the_numbers(monkeypatch, capsys):
    x, y = toy_digits(2, 0)
    tx, ty = toy_digits(5, 1)
    kw = dict(spec=SPEC, num_classes=10, proto=Protocol(epochs=3, dsa_strategy="none"), n_models=2, seed=1,
              device=torch.device("cpu"), batched=False)
    monkeypatch.setenv("DD_PROGRESS_SECONDS", "0")
    quiet = evaluate_set(norm(x), y, tx, ty, norm, **kw)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("DD_PROGRESS_SECONDS", "1e-9")  # a line after every epoch
    loud = evaluate_set(norm(x), y, tx, ty, norm, **kw)
    lines = capsys.readouterr().err.splitlines()
    assert loud.accs == quiet.accs
    assert [ln.split(",")[0] for ln in lines] == [f"evaluate model {m}/2: {e}/3 ({100 * e // 3}%)"
                                                  for m in (1, 2) for e in (1, 2, 3)]


def test_soft_labels_train():
    x, y = toy_digits(2, 0)
    soft = torch.nn.functional.one_hot(y, 10).float() * 0.9 + 0.01
    mb = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=0, device=torch.device("cpu"))
    hist = train_models(mb, norm(x), soft, Protocol(epochs=10, dsa_strategy="none"), generator(0, "cpu"))
    assert hist[-1] < hist[0]
    logits = torch.randn(5, 10)
    assert torch.allclose(soft_cross_entropy(logits, y[:5]),
                          soft_cross_entropy(logits, torch.nn.functional.one_hot(y[:5], 10).float()))


def test_auc_matches_mann_whitney_with_ties():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (200,), generator=g)
    score = torch.randint(0, 20, (3, 200), generator=g).double()  # many ties
    auc = binary_auc(score, y)
    for r in range(3):
        u = mannwhitneyu(score[r][y == 1].numpy(), score[r][y == 0].numpy()).statistic
        assert auc[r].item() == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()).item())


def test_balanced_accuracy_punishes_constant_classifier():
    y = torch.tensor([0] * 63 + [1] * 37)
    logits = torch.zeros(1, 100, 2)
    logits[..., 0] = 1  # always HP
    m = classification_metrics(logits, y, 2)
    assert m["acc"][0] == pytest.approx(63) and m["balanced_acc"][0] == pytest.approx(50)
    assert m["auc"][0] == pytest.approx(0.5)


def test_random_subset_is_per_class_and_seeded():
    y = torch.tensor([0, 1, 2] * 10 + [2, 2])
    a = random_subset(y, 4, 3, torch.Generator().manual_seed(0))
    b = random_subset(y, 4, 3, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and len(set(a.tolist())) == 12
    assert torch.bincount(y[a]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="class 0 has 10 examples, fewer than 11"):
        random_subset(y, 11, 3, torch.Generator().manual_seed(0))


def test_anchor_subset_is_the_random_stages_subset():
    y = torch.arange(200) % 10
    a = anchor_subset(y, 3, 10, 0, "mnist")
    assert torch.equal(a, random_subset(y, 3, 10, generator(0, "cpu", "random-subset", "mnist", 3)))
    assert torch.bincount(y[a]).tolist() == [3] * 10
    assert not torch.equal(a, anchor_subset(y, 3, 10, 1, "mnist"))   # the seed, dataset and size pick it
    assert not torch.equal(a, anchor_subset(y, 3, 10, 0, "mhist"))


@pytest.mark.parametrize("layout,compiled", [("vmap", False), ("loop", True)])
def test_layouts_train_identically_to_the_plain_loop(layout, compiled):
    """vmap (the CUDA layout) and the compiled loop (the CPU's compiled step) follow the eager loop's
    trajectory: same initialisation, same minibatches, same augmentation, same updates."""
    x, y = toy_digits(3, 0)
    proto = Protocol(epochs=3, batch_size=16, dsa_strategy="color_crop_cutout_scale_rotate")
    dev = torch.device("cpu")
    ref = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=3, device=dev, layout="loop")
    train_models(ref, norm(x), y, proto, generator(0, "cpu", "t"))
    other = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=3, device=dev, layout=layout, compile=compiled)
    train_models(other, norm(x), y, proto, generator(0, "cpu", "t"))
    init = ModelBatch(SPEC, 1, 10, (16, 16), 2, seed=3, device=dev).params
    moved = max(float((ref.params[k] - init[k]).detach().abs().max()) for k in ref.params)
    assert moved > 1e-3  # training did change the weights
    for k in ref.params:
        assert torch.allclose(other.params[k], ref.params[k], atol=1e-4, rtol=1e-3), k


def test_bf16_protocol_trains_and_predicts_float32_logits_like_fp32(cpu_bf16):
    """amp_cpu: the models train under bf16 autocast (weights stay float32) and score like fp32."""
    x, y = toy_digits(3, 0)
    tx, ty = toy_digits(20, 1)
    kw = dict(spec=SPEC, num_classes=10, n_models=2, seed=0, device=torch.device("cpu"))
    fp32 = evaluate_set(norm(x), y, tx, ty, norm, proto=Protocol(epochs=30, dsa_strategy="none"), **kw)
    bf16 = evaluate_set(norm(x), y, tx, ty, norm, proto=Protocol(epochs=30, dsa_strategy="none", amp_cpu=True), **kw)
    assert min(bf16.accs) > 80 and abs(np.mean(bf16.accs) - np.mean(fp32.accs)) < 5
    mb = ModelBatch(SPEC, 1, 10, (16, 16), 1, seed=0, device=torch.device("cpu"))
    train_models(mb, norm(x), y, Protocol(epochs=2, dsa_strategy="none", amp_cpu=True), generator(0, "cpu"))
    assert all(p.dtype == torch.float32 for p in mb.params.values())
    logits = predict(mb, tx, norm, amp_cpu=True)
    assert logits.dtype == torch.float32 and logits.shape == (1, len(tx), 10)
