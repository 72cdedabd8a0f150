"""The evaluation learning rate a distilled set asks for."""

from types import SimpleNamespace

import torch

from src.evaluate import set_lr


def test_a_stored_lr_is_used_and_a_set_without_one_gets_the_protocols():
    assert abs(set_lr(SimpleNamespace(lr=torch.tensor(0.045))) - 0.045) < 1e-6   # PAD, eval_lr: learned
    assert set_lr(SimpleNamespace(lr=None)) is None   # DataDAM, PAD with eval_lr: protocol
