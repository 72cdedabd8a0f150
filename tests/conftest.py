"""Shared fixtures: small generated datasets in the exact real file layouts, and an isolated repo dir."""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "datasets" / "mnist"


def run_module(module: str, *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m <module> args` as a user runs it, from `cwd` (default: the current directory), with
    this checkout's src importable wherever the package happens to be installed from."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_mnist_like(root: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """Four idx .gz files in MNIST's layout; each digit is a class-specific bar pattern plus noise."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 60, size=(n, 28, 28))
        for c in range(10):
            x[y == c, 2 + 2 * c: 4 + 2 * c, 4:24] = 255
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", x, 2051)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", y, 2049)
    return root


def make_mhist_like(root: Path, n_train: int = 30, n_test: int = 12, zipped: bool = True, seed: int = 0) -> Path:
    """images.zip (PNG, 224x224 RGB, under images/) + annotations.csv with MHIST's exact columns."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, images = [], {}
    for i in range(n_train + n_test):
        ssa = i % 3 == 0
        name = f"MHIST_{i:03d}.png"
        img = rng.integers(0, 80, size=(224, 224, 3), dtype=np.uint8)
        img[..., 0] += np.uint8(150 if ssa else 60)  # SSA redder: learnable
        buf = io.BytesIO()
        Image.fromarray(img, "RGB").save(buf, format="PNG")
        images[name] = buf.getvalue()
        rows.append({"Image Name": name, "Majority Vote Label": "SSA" if ssa else "HP",
                     "Number of Annotators who Selected SSA (Out of 7)": str(int(rng.integers(4, 8) if ssa else rng.integers(0, 4))),
                     "Partition": "train" if i < n_train else "test"})
    with open(root / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if zipped:
        with zipfile.ZipFile(root / "images.zip", "w") as z:
            for name, data in images.items():
                z.writestr(f"images/{name}", data)
    else:
        (root / "images").mkdir()
        for name, data in images.items():
            (root / "images" / name).write_bytes(data)
    return root


def set_param(root: Path, dotted: str, value) -> None:
    """Edit one key of root/params.yaml, e.g. set_param(d, "prepare.mnist.val_size", 20)."""
    import yaml

    path = root / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty project directory with the repo's params.yaml, tracking off, as the cwd.
    PAD runs are cleared (they need experts); the `pad_project` fixture below sets its own."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    set_param(tmp_path, "pad_runs", {})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DD_TRACKING", "0")
    monkeypatch.delenv("DD_MNIST_DIR", raising=False)
    monkeypatch.delenv("DD_MHIST_DIR", raising=False)
    return tmp_path


@pytest.fixture
def cpu_bf16(monkeypatch):
    """bf16 autocast on the CPU whatever this CPU has: the tests of the bf16 paths run them even
    where `amp_cpu` would fall back to float32 (no AMX or AVX-512 BF16)."""
    monkeypatch.setenv("DD_CPU_BF16", "1")


@pytest.fixture
def mnist_like(tmp_path) -> Path:
    return make_mnist_like(tmp_path / "mnist_src")


@pytest.fixture
def mhist_like(tmp_path) -> Path:
    return make_mhist_like(tmp_path / "mhist_src")


SMALL = {"name": "convnet", "depth": 2, "width": 8}
PAD = {"iterations": 6, "syn_steps": 3, "expert_epochs": 1, "min_start_epoch": 0, "start_epoch": 1,
       "max_start_epoch": 2, "expand_iterations": 4, "batch_syn": 10, "lr_img": 10.0, "lr_lr": 1e-5,
       "lr_y": 2.0, "alpha": {1: 0.0, 2: 0.25}, "checkpoint_every": 2, "log_every": 2}


@pytest.fixture
def pad_project(workdir, mnist_like):
    """A project with 3 small experts trained and one PAD run (ipc 2) configured."""
    from src.experts import run_experts
    from src.prepare import prepare

    set_param(workdir, "prepare.mnist.val_size", 40)
    set_param(workdir, "expert_datasets", ["mnist"])
    set_param(workdir, "experts.mnist", {"model": SMALL, "n_experts": 3, "epochs": 10, "keep_epochs": 3,
                                         "batch_size": 16, "lr_teacher": 0.05, "score_models": 2, "score_epochs": 1,
                                         "dsa_strategy": "color_crop_cutout_scale_rotate"})
    set_param(workdir, "distill.pad.mnist", PAD)
    set_param(workdir, "pad_runs", {"mnist-pad-ipc2-real": {"dataset": "mnist", "method": "pad", "ipc": 2, "init": "real"}})
    set_param(workdir, "runs", {})
    set_param(workdir, "random", {"mnist-ipc2": {"dataset": "mnist", "ipc": 2}})
    set_param(workdir, "evaluate.mnist", {"model": SMALL, "n_models": 2, "epochs": 3})
    prepare("mnist", source_dir=mnist_like, verify=False)
    run_experts("mnist")
    return workdir
