import torch

from src.config import ModelSpec
from src.models.registry import build
from src.train import loss_step, sgd_pass
from tests.test_protocol import norm, toy_digits

SPEC = ModelSpec(depth=2, width=16)
CPU = torch.device("cpu")


def net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build(SPEC, 1, 10, (16, 16)).train()


def test_compiled_step_matches_eager_on_full_and_short_batches():
    """The compiled path (full-size batches) and the eager path (the shorter last batch) give the
    eager step's logits, loss and gradients."""
    x, y = toy_digits(3, 0)
    x = norm(x)
    ref, fast = net(), net()
    plain = loss_step(ref, 8, CPU)
    compiled = loss_step(fast, 8, CPU, compile=True)
    for xb, yb in ((x[:8], y[:8]), (x[8:13], y[8:13])):  # full batch (compiled), short batch (eager)
        (l1, loss1), (l2, loss2) = plain(xb, yb), compiled(xb, yb)
        assert torch.allclose(l1, l2, atol=1e-5) and torch.allclose(loss1, loss2, atol=1e-6)
        ref.zero_grad(), fast.zero_grad()
        loss1.backward(), loss2.backward()
        for p, q in zip(ref.parameters(), fast.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-5)


def test_bf16_step_computes_in_bf16_with_a_float32_loss_and_still_learns(cpu_bf16):
    x, y = toy_digits(4, 0)
    x = norm(x)
    model = net()
    step = loss_step(model, 40, CPU, amp_cpu=True)
    logits, loss = step(x, y)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    _, loss32 = loss_step(net(), 40, CPU)(x, y)  # same initial weights
    assert abs(loss.item() - loss32.item()) < 0.02 * loss32.item()  # bf16 rounding only
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(15):
        sgd_pass(step, opt, x, y, torch.randperm(len(x), generator=torch.Generator().manual_seed(0)), 40)
    with torch.no_grad():
        acc = (model.eval()(x).argmax(1) == y).float().mean()
    assert acc > 0.9  # separable toy digits, learned under bf16
