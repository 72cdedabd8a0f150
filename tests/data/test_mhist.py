import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from src.data import mhist, store
from src.errors import DataError
from src.prepare import prepare
from tests.conftest import make_mhist_like


def rewrite_csv(root, mutate):
    with open(root / "annotations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows, fields = mutate(rows)
    with open(root / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_loads_zip_layout(mhist_like):
    a = mhist.load(mhist_like, resolution=32, strict=False)
    assert a["train_x"].shape == (30, 3, 32, 32) and a["test_x"].shape == (12, 3, 32, 32)
    assert set(np.unique(a["train_y"])) == {0, 1}
    assert a["train_votes"].min() >= 0 and a["train_votes"].max() <= 7
    assert (a["train_y"] == 1).sum() == 10  # every third image is SSA


def test_folder_layout_matches_zip(tmp_path, mhist_like):
    folder = make_mhist_like(tmp_path / "folder", zipped=False)
    a, b = mhist.load(mhist_like, 32, strict=False), mhist.load(folder, 32, strict=False)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_strict_row_count(mhist_like):
    with pytest.raises(DataError, match="42 rows, expected 3152"):
        mhist.load(mhist_like, 32, strict=True)


def test_missing_column(mhist_like):
    rewrite_csv(mhist_like, lambda rows: ([{("Split" if k == "Partition" else k): v for k, v in r.items()} for r in rows],
                                          ["Image Name", "Majority Vote Label",
                                           "Number of Annotators who Selected SSA (Out of 7)", "Split"]))
    with pytest.raises(DataError, match="annotations.csv: missing column 'Partition'"):
        mhist.load(mhist_like, 32, strict=False)


def test_unknown_label(mhist_like):
    def mutate(rows):
        rows[3]["Majority Vote Label"] = "TA"
        return rows, list(rows[0])
    rewrite_csv(mhist_like, mutate)
    with pytest.raises(DataError, match=r"annotations.csv:5: unknown label 'TA'"):
        mhist.load(mhist_like, 32, strict=False)


def test_bad_annotator_count(mhist_like):
    def mutate(rows):
        rows[0]["Number of Annotators who Selected SSA (Out of 7)"] = "9"
        return rows, list(rows[0])
    rewrite_csv(mhist_like, mutate)
    with pytest.raises(DataError, match="annotator count '9'"):
        mhist.load(mhist_like, 32, strict=False)


def test_image_absent_from_zip(mhist_like):
    with zipfile.ZipFile(mhist_like / "images.zip") as z:
        keep = {n: z.read(n) for n in z.namelist() if not n.endswith("MHIST_007.png")}
    with zipfile.ZipFile(mhist_like / "images.zip", "w") as z:
        for n, d in keep.items():
            z.writestr(n, d)
    with pytest.raises(DataError, match="images.zip: image MHIST_007.png listed in annotations.csv is absent"):
        mhist.load(mhist_like, 32, strict=False)


def test_wrong_image_size(mhist_like):
    with zipfile.ZipFile(mhist_like / "images.zip") as z:
        data = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    Image.new("RGB", (200, 224)).save(buf, format="PNG")
    data["images/MHIST_002.png"] = buf.getvalue()
    with zipfile.ZipFile(mhist_like / "images.zip", "w") as z:
        for n, d in data.items():
            z.writestr(n, d)
    with pytest.raises(DataError, match="MHIST_002.png is 200x224 RGB, expected 224x224 RGB"):
        mhist.load(mhist_like, 32, strict=False)


def test_corrupt_zip(mhist_like):
    (mhist_like / "images.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="images.zip: not a valid zip file"):
        mhist.load(mhist_like, 32, strict=False)


def test_missing_inputs_say_how_to_add_mhist(workdir):
    with pytest.raises(DataError, match="add `mhist` to `datasets` in params.yaml"):
        prepare("mhist")


def test_md5_mismatch_only_warns(mhist_like, capsys):
    rows = 42
    with pytest.raises(DataError, match=f"{rows} rows"):
        mhist.load(mhist_like, 32, strict=True)
    assert "md5 differs from the published" in capsys.readouterr().err


def test_prepare_end_to_end_from_env_dir(workdir, mhist_like, monkeypatch):
    monkeypatch.setenv("DD_MHIST_DIR", str(mhist_like))
    prepare("mhist", verify=False)
    ds = store.load("mhist")
    assert ds.classes == ("HP", "SSA") and ds.im_size == (64, 64)  # params.yaml resolution
    assert len(ds.train) + len(ds.val) == 30 and len(ds.test) == 12
    assert ds.train.votes is not None and (workdir / "data/raw/mhist/images.zip").is_file()
