"""MHIST (colorectal polyps, HP vs SSA): validate the research-use download and read it.

Input, in `data/raw/mhist/` or the directory named by `DD_MHIST_DIR`:
  images.zip (or an extracted images/ folder) with 3,152 PNGs `MHIST_<abc>.png`, 224x224 RGB;
  annotations.csv with columns `Image Name`, `Majority Vote Label` (HP|SSA),
  `Number of Annotators who Selected SSA (Out of 7)` (0-7), `Partition` (train|test).
Copies of the files differ in line endings, so a published-md5 mismatch only warns; the
content is validated instead. Labels: HP=0, SSA=1.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from src.data.fsutil import atomic_dir, md5sum
from src.errors import DataError

ENV_DIR = "DD_MHIST_DIR"
PUBLISHED_MD5 = {"images.zip": "486973abb3cf7985df2034701d81e9c1",
                 "annotations.csv": "4f4a2c2b621c4caa16635273c9b383f5"}
COLUMNS = ("Image Name", "Majority Vote Label", "Number of Annotators who Selected SSA (Out of 7)", "Partition")
LABELS = {"HP": 0, "SSA": 1}
N_IMAGES, NATIVE = 3152, 224
HINT = ("MHIST is not in data/raw/mhist/: request it at https://bmirds.github.io/MHIST/, put images.zip and "
        "annotations.csv there (or set DD_MHIST_DIR), then add `mhist` to `datasets` in params.yaml")


def _has_inputs(d: Path) -> bool:
    return (d / "annotations.csv").is_file() and ((d / "images.zip").is_file() or (d / "images").is_dir())


def fetch(raw_dir: str | Path, source_dir: str | Path | None = None) -> Path:
    """Make `raw_dir` hold annotations.csv and images.zip (or images/), copied from `source_dir` if given."""
    raw_dir = Path(raw_dir)
    source_dir = source_dir or os.environ.get(ENV_DIR) or None
    if source_dir is None:
        if not _has_inputs(raw_dir):
            raise DataError(HINT)
        return raw_dir
    src = Path(source_dir)
    if not _has_inputs(src):
        raise DataError(f"{src}: expected annotations.csv and images.zip (or an images/ folder)")
    with atomic_dir(raw_dir) as tmp:
        shutil.copyfile(src / "annotations.csv", tmp / "annotations.csv")
        if (src / "images.zip").is_file():
            shutil.copyfile(src / "images.zip", tmp / "images.zip")
        else:
            shutil.copytree(src / "images", tmp / "images", copy_function=shutil.copyfile)
    return raw_dir


def read_annotations(path: Path, expect_rows: int | None = N_IMAGES) -> list[dict]:
    if not path.is_file():
        raise DataError(f"{path}: missing ({HINT})")
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column {missing[0]!r} (have {list(header)})")
    rows = []
    for lineno, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        label, part, votes = row["Majority Vote Label"], row["Partition"], row[COLUMNS[2]]
        if label not in LABELS:
            raise DataError(f"{path}:{lineno}: unknown label {label!r} (expected HP or SSA)")
        if part not in ("train", "test"):
            raise DataError(f"{path}:{lineno}: unknown partition {part!r} (expected train or test)")
        if not votes.isdigit() or not 0 <= int(votes) <= 7:
            raise DataError(f"{path}:{lineno}: annotator count {votes!r} is not an integer 0-7")
        rows.append({"name": row["Image Name"], "label": LABELS[label], "votes": int(votes), "train": part == "train"})
    if expect_rows is not None and len(rows) != expect_rows:
        raise DataError(f"{path}: {len(rows)} rows, expected {expect_rows} (use --no-verify for a subset)")
    return rows


class _ImageSource:
    """Reads PNGs by file name from images.zip or an images/ folder."""

    def __init__(self, raw_dir: Path):
        self.zip = None
        if (raw_dir / "images.zip").is_file():
            self.where = raw_dir / "images.zip"
            try:
                self.zip = zipfile.ZipFile(self.where)
            except zipfile.BadZipFile as err:
                raise DataError(f"{self.where}: not a valid zip file ({err})") from None
            self.members = {Path(n).name: n for n in self.zip.namelist() if not n.endswith("/")}
        elif (raw_dir / "images").is_dir():
            self.where = raw_dir / "images"
            self.members = {p.name: p for p in self.where.iterdir()}
        else:
            raise DataError(f"{raw_dir}: missing images.zip (or an images/ folder)")

    def open(self, name: str) -> Image.Image:
        if name not in self.members:
            raise DataError(f"{self.where}: image {name} listed in annotations.csv is absent")
        try:
            data = self.zip.read(self.members[name]) if self.zip else Path(self.members[name]).read_bytes()
            img = Image.open(io.BytesIO(data))
            img.load()
        except (OSError, zipfile.BadZipFile) as err:
            raise DataError(f"{self.where}: image {name} cannot be decoded ({err})") from None
        return img


def load(raw_dir: str | Path, resolution: int = NATIVE, strict: bool = True) -> dict[str, np.ndarray]:
    """Validate and read MHIST: {split}_x (n,3,R,R) uint8, {split}_y int64 (HP=0, SSA=1), {split}_votes."""
    raw_dir = Path(raw_dir)
    for fname, md5 in PUBLISHED_MD5.items():
        p = raw_dir / fname
        if strict and p.is_file() and md5sum(p) != md5:
            print(f"warning: {p}: md5 differs from the published {md5}; validating content instead", file=sys.stderr)
    rows = read_annotations(raw_dir / "annotations.csv", N_IMAGES if strict else None)
    source = _ImageSource(raw_dir)
    x = np.empty((len(rows), 3, resolution, resolution), dtype=np.uint8)
    for i, row in enumerate(rows):
        img = source.open(row["name"])
        if img.size != (NATIVE, NATIVE) or img.mode != "RGB":
            raise DataError(f"{source.where}: image {row['name']} is {img.size[0]}x{img.size[1]} {img.mode}, "
                            f"expected {NATIVE}x{NATIVE} RGB")
        if resolution != NATIVE:
            img = img.resize((resolution, resolution), Image.Resampling.BILINEAR)
        x[i] = np.asarray(img).transpose(2, 0, 1)
    train = np.array([r["train"] for r in rows])
    y = np.array([r["label"] for r in rows], dtype=np.int64)
    votes = np.array([r["votes"] for r in rows], dtype=np.int64)
    return {"train_x": x[train], "train_y": y[train], "train_votes": votes[train],
            "test_x": x[~train], "test_y": y[~train], "test_votes": votes[~train]}
