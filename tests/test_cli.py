import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def test_console_script_lists_every_stage():
    r = subprocess.run([str(BIN / "ddkit"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for stage in ("prepare", "baseline", "distill", "evaluate", "nas", "nas-compare"):
        assert stage in r.stdout


@pytest.mark.parametrize("module", ["src.prepare", "src.baseline", "src.distill", "src.evaluate", "src.nas", "src.nas.compare"])
def test_stage_modules_answer_help(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage" in r.stdout


def test_help_does_not_import_torch_or_mlflow():
    code = "import sys, src.cli; print('torch' in sys.modules, 'mlflow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["False", "False"]


def test_bad_flag_is_usage_error():
    r = subprocess.run([sys.executable, "-m", "src.prepare", "mnist", "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "No such option" in r.stderr
