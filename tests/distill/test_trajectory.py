import pytest
import torch
from torch import nn

from src.config import ModelSpec
from src.distill.trajectory import FlatNet, matching_grads, shallow_mask, student_step, trajectory_loss, unroll
from src.models.registry import build


def test_flat_mask_drops_exactly_the_first_alpha_fraction():
    sizes = [10, 5, 20, 5]  # 40 entries
    m = shallow_mask(sizes, 0.3, "flat")
    assert m.tolist() == [False] * 12 + [True] * 28
    assert shallow_mask(sizes, 0.0, "flat").all()


def test_layer_mask_drops_whole_tensors_nearest_to_alpha():
    sizes = [10, 5, 20, 5]  # cut points 0, 10, 15, 35
    assert shallow_mask(sizes, 0.35, "layer").tolist() == [False] * 15 + [True] * 25  # 14 -> nearest cut 15
    assert shallow_mask(sizes, 0.3, "layer").tolist() == [False] * 10 + [True] * 30   # 12 -> nearest cut 10
    assert shallow_mask(sizes, 0.2, "layer").tolist() == [False] * 10 + [True] * 30   # 8 -> 10
    assert shallow_mask(sizes, 0.8, "layer").tolist() == [False] * 35 + [True] * 5    # never all tensors
    with pytest.raises(ValueError, match="mask mode"):
        shallow_mask(sizes, 0.3, "random")


def test_normalised_loss_against_plain_reference():
    g = torch.Generator().manual_seed(0)
    a, s, t = (torch.randn(7, generator=g, dtype=torch.float64) for _ in range(3))
    keep = torch.tensor([False, False, True, True, True, False, True])
    num = sum((a[i] - t[i]) ** 2 for i in range(7) if keep[i])
    den = sum((s[i] - t[i]) ** 2 for i in range(7) if keep[i])
    assert float(trajectory_loss(a, s, t, keep)) == pytest.approx(float(num / den), rel=1e-12)
    assert float(trajectory_loss(s, s, t)) == pytest.approx(1.0)  # no progress: loss 1


def tiny():
    torch.manual_seed(0)
    net = build(ModelSpec(depth=1, width=3, norm="instance"), 1, 3, (6, 6)).double()
    return FlatNet(net)


def setup(steps=3, soft=True):
    net = tiny()
    g = torch.Generator().manual_seed(1)
    theta0 = torch.cat([p.detach().flatten() for p in net.module.parameters()])
    target = theta0 + 0.05 * torch.randn(theta0.shape, generator=g, dtype=torch.float64)
    images = torch.randn(6, 1, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    mask = shallow_mask(net.sizes, 0.25, "flat")
    order = [torch.randperm(6, generator=g)[:4] for _ in range(steps)]

    def batch(s):
        idx = order[s]
        return images[idx] * 1.0, (logits[idx].softmax(-1) if soft else torch.tensor([0, 1, 2, 0])[: len(idx)])

    def loss_fn(th):
        return trajectory_loss(th, theta0, target, mask)

    return net, theta0, images, logits, lr, batch, loss_fn, steps


def test_unroll_gradient_matches_finite_differences():
    net, theta0, images, logits, lr, batch, loss_fn, steps = setup()
    _, (g_img, g_lr, g_y) = matching_grads(net, theta0, batch, steps, lr, loss_fn, [images, lr, logits])

    def value():
        with torch.enable_grad():
            return float(loss_fn(unroll(net, theta0, batch, steps, lr)).detach())

    eps = 1e-6
    for tensor, grad in ((images, g_img), (logits, g_y), (lr, g_lr)):
        flat, gflat = tensor.data.view(-1), grad.reshape(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 5)):
            old = float(flat[i])
            flat[i] = old + eps
            up = value()
            flat[i] = old - eps
            down = value()
            flat[i] = old
            assert float(gflat[i]) == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("soft", [True, False])
def test_checkpointed_unroll_gives_the_full_unrolls_gradients(soft):
    net, theta0, images, logits, lr, batch, loss_fn, steps = setup(steps=4, soft=soft)
    leaves = [images, lr, logits]
    l1, full = matching_grads(net, theta0, batch, steps, lr, loss_fn, leaves, checkpointed=False)
    l2, ckpt = matching_grads(net, theta0, batch, steps, lr, loss_fn, leaves, checkpointed=True)
    assert float(l1) == pytest.approx(float(l2), rel=1e-12)
    for a, b in zip(full, ckpt):
        if a is None:
            assert b is None and not soft  # hard labels: no gradient to the label logits
        else:
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_student_step_is_plain_sgd():
    net = tiny()
    theta = torch.cat([p.detach().flatten() for p in net.module.parameters()]).requires_grad_(True)
    x, y = torch.randn(4, 1, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    ref = net.module
    loss = nn.functional.cross_entropy(ref(x), y)
    grads = torch.autograd.grad(loss, list(ref.parameters()))
    want = torch.cat([(p - 0.5 * g).flatten() for p, g in zip(ref.parameters(), grads)])
    assert torch.allclose(student_step(net, theta, x, y, torch.tensor(0.5, dtype=torch.float64)), want)
