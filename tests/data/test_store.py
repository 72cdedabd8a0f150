"""The packed dataset file read back: a damaged or foreign one is one line naming it."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from src.data import store
from src.errors import DataError


def _pack(root, arrays=None, meta=None):
    (root / "toy").mkdir(parents=True, exist_ok=True)
    path = root / "toy" / "data.safetensors"
    x = np.zeros((4, 1, 2, 2), np.uint8)
    arrays = arrays if arrays is not None else {f"{s}_{k}": (x if k == "x" else np.arange(4)) for s in ("train", "val", "test")
                                                for k in ("x", "y")}
    if meta is None:
        store.save(path, "toy", ("a", "b"), arrays, {})
    else:
        save_file({k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, str(path), metadata=meta)
    return path


def test_a_packed_dataset_loads_and_a_damaged_one_is_refused_in_one_line(tmp_path):
    path = _pack(tmp_path)
    ds = store.load("toy", tmp_path)
    assert ds.classes == ("a", "b") and len(ds.val.y) == 4 and ds.channels == 1

    cases = [({"meta": json.dumps([1])}, "packed for \\[1\\]"),                     # metadata not an object
             ({"other": "x"}, "not a valid packed dataset \\(KeyError"),            # no ddkit metadata at all
             ({"meta": "{not json"}, "not a valid packed dataset \\(JSONDecodeError"),
             ({"meta": json.dumps({"format": store.FORMAT_VERSION, "dataset": "other"})}, "packed for 'other'"),
             ({"meta": json.dumps({"format": store.FORMAT_VERSION, "dataset": "toy"})}, "classes/mean/std")]
    for meta, message in cases:
        _pack(tmp_path, meta=meta)
        with pytest.raises(DataError, match=message) as err:
            store.load("toy", tmp_path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)

    store.save(path, "toy", ("a", "b"), {"train_x": np.zeros((4, 1, 2, 2), np.uint8), "train_y": np.arange(4)}, {})
    with pytest.raises(DataError, match=r"missing \['val_x', 'val_y', 'test_x', 'test_y'\]"):
        store.load("toy", tmp_path)
    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a valid packed dataset"):
        store.load("toy", tmp_path)
