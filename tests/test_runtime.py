"""src/runtime.py: where amp_cpu runs in bf16, and what a run records of it."""

from __future__ import annotations

import pytest
import torch

from src import runtime
from src.errors import UserError
from src.tracking import environment


def _matmul_dtype(amp_cpu: bool) -> torch.dtype:
    a = torch.ones(4, 4)
    with runtime.autocast("cpu", cpu=runtime.cpu_amp(amp_cpu, "cpu")):
        return (a @ a).dtype


def test_amp_cpu_runs_bf16_only_where_allowed(monkeypatch, capsys):
    monkeypatch.setenv("DD_CPU_BF16", "1")
    assert _matmul_dtype(amp_cpu=True) == torch.bfloat16
    assert _matmul_dtype(amp_cpu=False) == torch.float32
    monkeypatch.setenv("DD_CPU_BF16", "0")  # a CPU without bf16 hardware: the setting falls back
    runtime._note_float32.cache_clear()
    assert _matmul_dtype(amp_cpu=True) == torch.float32
    assert _matmul_dtype(amp_cpu=True) == torch.float32
    assert capsys.readouterr().err.count("amp_cpu runs in float32") == 1  # said once per process
    assert runtime.cpu_amp(True, "meta") is True  # another device's setting is not the CPU's to decide


def test_detection_decides_when_nothing_is_forced(monkeypatch):
    monkeypatch.delenv("DD_CPU_BF16", raising=False)
    monkeypatch.setattr(runtime, "_bf16_in_hardware", lambda: False)
    assert runtime.cpu_bf16() is False and _matmul_dtype(amp_cpu=True) == torch.float32
    monkeypatch.setattr(runtime, "_bf16_in_hardware", lambda: True)
    assert runtime.cpu_bf16() is True and _matmul_dtype(amp_cpu=True) == torch.bfloat16


def test_stages_fall_back_where_the_cpu_lacks_bf16(monkeypatch):
    """The training step a stage builds with amp_cpu runs float32 on such a CPU: the same logits as
    one built without it (not bf16-rounded ones)."""
    from src.train import loss_step

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
    monkeypatch.setenv("DD_CPU_BF16", "0")
    fallback, _ = loss_step(net, 8, torch.device("cpu"), amp_cpu=True)(x, y)
    plain, _ = loss_step(net, 8, torch.device("cpu"))(x, y)
    assert fallback.dtype == torch.float32 and torch.equal(fallback, plain)
    monkeypatch.setenv("DD_CPU_BF16", "1")
    assert loss_step(net, 8, torch.device("cpu"), amp_cpu=True)(x, y)[0].dtype == torch.bfloat16


def test_a_bad_override_is_one_line_naming_it(monkeypatch):
    monkeypatch.setenv("DD_CPU_BF16", "yes")
    with pytest.raises(UserError, match=r"DD_CPU_BF16: 'yes', expected 1 .* 0 .* or unset"):
        runtime.cpu_bf16()


def test_the_choice_travels_with_metrics_and_runs(monkeypatch):
    monkeypatch.setenv("DD_CPU_BF16", "0")
    assert runtime.device_info("cpu")["cpu_bf16"] is False
    assert environment()["cpu_bf16"] == "false"
    monkeypatch.setenv("DD_CPU_BF16", "1")
    assert runtime.device_info("cpu")["cpu_bf16"] is True and environment()["cpu_bf16"] == "true"
    assert "cpu_bf16" not in runtime.device_info("meta")  # only the CPU's choice is recorded
