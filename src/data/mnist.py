"""MNIST: fetch the four idx `.gz` files, verify them, and read them into uint8 arrays.

Sources, in order: an explicit local directory (`--source-dir` or `DD_MNIST_DIR`), else the
public mirrors. Every file is md5-checked against the published sums unless the caller opts
out (`verify_md5=False`) to feed another dataset in the same four-file idx layout.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from src.data.fsutil import atomic_dir, md5sum
from src.errors import DataError

# name -> (published md5, idx magic, expected trailing dims)
FILES: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 2051, (28, 28)),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 2049, ()),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 2051, (28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 2049, ()),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
ENV_DIR = "DD_MNIST_DIR"


def _valid(path: Path, verify_md5: bool) -> bool:
    return path.is_file() and (not verify_md5 or md5sum(path) == FILES[path.name][0])


def _download(name: str, dest: Path) -> None:
    errors = []
    for mirror in MIRRORS:
        try:
            with urllib.request.urlopen(mirror + name, timeout=60) as r, open(dest, "wb") as f:
                shutil.copyfileobj(r, f)
            return
        except OSError as err:  # URLError is an OSError
            errors.append(f"{mirror}: {err}")
    raise DataError(f"{name}: could not download from any mirror ({'; '.join(errors)}); "
                    f"place the files in a directory and set {ENV_DIR}")


def fetch(raw_dir: str | Path, source_dir: str | Path | None = None, verify_md5: bool = True) -> Path:
    """Make `raw_dir` hold the four verified idx files; files already there and valid are kept.

    On any error `raw_dir` is left as it was: new files are gathered in a temporary directory.
    """
    raw_dir = Path(raw_dir)
    source_dir = source_dir or os.environ.get(ENV_DIR) or None
    if source_dir is not None and not Path(source_dir).is_dir():
        raise DataError(f"{source_dir}: MNIST source directory does not exist")
    if all(_valid(raw_dir / n, verify_md5) for n in FILES):
        return raw_dir
    with atomic_dir(raw_dir) as tmp:
        for name, (md5, _, _) in FILES.items():
            dest = tmp / name
            if _valid(raw_dir / name, verify_md5):
                shutil.copyfile(raw_dir / name, dest)
            elif source_dir is not None:
                src = Path(source_dir) / name
                if not src.is_file():
                    raise DataError(f"{src}: missing (expected the four MNIST idx .gz files)")
                shutil.copyfile(src, dest)
            else:
                _download(name, dest)
            if verify_md5 and (got := md5sum(dest)) != md5:
                where = Path(source_dir) / name if source_dir else name
                raise DataError(f"{where}: md5 {got} does not match the published {md5} "
                                "(corrupt copy? use --no-verify-md5 for another idx dataset)")
    return raw_dir


def read_idx(path: str | Path, magic: int, dims: tuple[int, ...]) -> np.ndarray:
    """Read one gzipped idx file into a uint8 array of shape (n, *dims)."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a complete gzip file ({err})") from None
    ndim = 1 + len(dims)
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: too short for an idx header")
    got_magic = struct.unpack(">i", data[:4])[0]
    if got_magic != magic:
        raise DataError(f"{path}: idx magic {got_magic}, expected {magic}")
    shape = struct.unpack(f">{ndim}i", data[4: 4 + 4 * ndim])
    if tuple(shape[1:]) != dims:
        raise DataError(f"{path}: idx shape {shape}, expected (n, {', '.join(map(str, dims))})".replace(", )", ")"))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: {body.size} bytes of data, header promises {int(np.prod(shape))}")
    return body.reshape(shape)


def load(raw_dir: str | Path) -> dict[str, np.ndarray]:
    """Read the four files: train_x (n,28,28) uint8, train_y (n,) int64, test_x, test_y."""
    raw_dir = Path(raw_dir)
    arrays = {name: read_idx(raw_dir / name, magic, dims) for name, (_, magic, dims) in FILES.items()}
    out = {
        "train_x": arrays["train-images-idx3-ubyte.gz"],
        "train_y": arrays["train-labels-idx1-ubyte.gz"].astype(np.int64),
        "test_x": arrays["t10k-images-idx3-ubyte.gz"],
        "test_y": arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64),
    }
    for split in ("train", "test"):
        nx, ny = len(out[f"{split}_x"]), len(out[f"{split}_y"])
        if nx != ny:
            raise DataError(f"{raw_dir}: {split} has {nx} images but {ny} labels")
        if ny and out[f"{split}_y"].max() > 9:
            raise DataError(f"{raw_dir}: {split} labels must be 0-9, found {out[f'{split}_y'].max()}")
    return out
