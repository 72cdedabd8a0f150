"""The evaluation learning rate a distilled set asks for."""

from types import SimpleNamespace

import torch

from src.evaluate import set_lr


def distilled(lr, method="pad", lr_lr=1e-5):
    return SimpleNamespace(lr=None if lr is None else torch.tensor(lr),
                           meta={"method": method, "params": {method: {"lr_lr": lr_lr}}})


def test_learned_lr_is_used_and_an_unlearned_one_is_not():
    assert abs(set_lr(distilled(0.045)) - 0.045) < 1e-6          # PAD learned it: evaluate at it
    assert set_lr(distilled(0.02, lr_lr=0.0)) is None             # lr_lr = 0: only lr_teacher, protocol lr
    assert set_lr(distilled(None, method="datadam")) is None      # hard-label methods carry none
