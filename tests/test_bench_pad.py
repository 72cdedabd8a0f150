"""benchmarks/bench_pad.py end to end at toy sizes: its hand-made expert manifest must pass the same
schema check as the stage's (it did not from bdd8cc1 until session 27, which only gpu.sh's smoke run showed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("unroll", ["full", "checkpointed"])
def test_bench_pad_prints_one_json_line(unroll):
    cmd = [sys.executable, str(ROOT / "benchmarks/bench_pad.py"), "--device", "cpu", "--data", "mhist-fixture",
           "--resolution", "32", "--width", "8", "--ipc", "2", "--syn-steps", "2", "--batch-syn", "4",
           "--iterations", "1", "--unroll", unroll]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["benchmark"] == "pad" and row["unroll"] == unroll
    assert row["resolution"] == 32 and row["syn_steps"] == 2 and row["batch_syn"] == 4
    assert row["ms_per_iter"] > 0 and row["floor_ms"] > 0 and row["peak_memory_mb"] > 0
