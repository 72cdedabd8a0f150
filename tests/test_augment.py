import pytest
import torch

from src.augment import DSA, DSAHyper, parse_strategy


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_none_is_identity():
    x = torch.randn(4, 1, 8, 8)
    assert DSA("none")(x, gen()) is x


def test_unknown_op_is_rejected():
    with pytest.raises(ValueError, match="unknown DSA operation 'blur'"):
        parse_strategy("color_blur")


@pytest.mark.parametrize("op", ["color", "crop", "cutout", "flip", "scale", "rotate"])
def test_each_op_changes_images_and_is_differentiable(op):
    x = torch.randn(64, 3, 16, 16, requires_grad=True)
    y = DSA(op, mode="M", hyper=DSAHyper(prob_flip=1.0))(x, gen())
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_flip_and_integer_crop_are_exact_pixel_moves():
    x = torch.randn(8, 1, 10, 10)
    y = DSA("flip", mode="M", hyper=DSAHyper(prob_flip=1.0))(x, gen())
    assert torch.allclose(y, x.flip(3), atol=1e-5)
    d = DSA("crop", mode="M")
    p = d.sample(8, (10, 10), gen(), x.device)
    y = d.apply(x, p)
    for k in range(8):
        # align_corners=True: output pixel (i, j) reads input pixel (i + ty, j + tx), zero outside
        tx, ty = (round(float(v) * 9 / 2) for v in p["affine"][k, :, 2])
        want = torch.zeros(10, 10)
        for i in range(10):
            for j in range(10):
                if 0 <= i + ty < 10 and 0 <= j + tx < 10:
                    want[i, j] = x[k, 0, i + ty, j + tx]
        assert torch.allclose(y[k, 0], want, atol=1e-5)


def test_siamese_shares_the_transform_within_a_group():
    d = DSA("color_crop_cutout_flip_scale_rotate")
    base = torch.randn(3, 1, 12, 12)  # one image per class
    real = base.repeat_interleave(5, 0)  # 5 copies per class
    syn = base.repeat_interleave(2, 0)  # 2 copies per class
    out_r, out_s = d.siamese([real, syn], [torch.arange(3).repeat_interleave(5), torch.arange(3).repeat_interleave(2)],
                             3, gen(1))
    for c in range(3):
        assert torch.allclose(out_r[5 * c], out_s[2 * c], atol=1e-6)
        assert torch.allclose(out_r[5 * c], out_r[5 * c + 4], atol=1e-6)


def test_same_seed_same_output_different_seed_different():
    d = DSA("color_crop_cutout_flip_scale_rotate")
    x = torch.randn(16, 3, 12, 12)
    assert torch.equal(d(x, gen(3)), d(x, gen(3)))
    assert not torch.equal(d(x, gen(3)), d(x, gen(4)))


def _cut_or_scaled(p):  # "cutout_scale" in mode S: per sample, True where the picked op is cutout
    assert torch.equal(p["cutout"], (p["affine"][:, 0, 0] == 1) & (p["affine"][:, 1, 1] == 1))
    return p["cutout"]


def test_mode_s_draws_one_operation_per_minibatch_as_the_reference():
    # the reference DSA picks one operation per call (per minibatch); magnitudes stay per sample
    d = DSA("cutout_scale")
    mixed = 0
    for seed in range(20):
        ops = _cut_or_scaled(d.sample(12, (8, 8), gen(seed), torch.device("cpu"), blocks=3)).view(3, 4)
        assert (ops == ops[:, :1]).all()  # one operation inside each minibatch
        mixed += int(_cut_or_scaled(d.sample(12, (8, 8), gen(seed), torch.device("cpu"))).view(3, 4).float().std(1).gt(0).any())
    assert mixed > 10  # blocks=None: drawn per sample, so minibatches mix operations
    flips = DSA("cutout_flip", hyper=DSAHyper(prob_flip=1.0))
    x = torch.randn(6, 1, 8, 8)  # no exact zeros: a zero pixel is a cutout hole
    kinds = set()
    for seed in range(10):  # a plain call is one minibatch: every image flipped, or every image cut
        y = flips(x, gen(seed))
        cut = (y == 0).flatten(1).any(1)
        assert bool(cut.all()) or torch.allclose(y, x.flip(3), atol=1e-5)
        kinds.add(bool(cut.all()))
    assert kinds == {True, False}
    with pytest.raises(ValueError, match="12 samples do not split into 5 equal minibatches"):
        d.sample(12, (8, 8), gen(), torch.device("cpu"), blocks=5)
