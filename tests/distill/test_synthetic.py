import pickle

import pytest
import torch

from src.distill import synthetic
from src.errors import DataError


def make(tmp_path, **meta):
    images = torch.randn(20, 1, 8, 8)
    labels = torch.arange(10).repeat_interleave(2)
    base = {"dataset": "mnist", "method": "datadam", "ipc": 2, "init": "real", "mean": [0.13], "std": [0.31]}
    return synthetic.save(tmp_path / "set.safetensors", images, labels, {**base, **meta}), images, labels


def test_round_trip_with_metadata(tmp_path):
    path, images, labels = make(tmp_path)
    s = synthetic.load(path, "mnist", (0.13,), (0.31,))
    assert torch.equal(s.images, images) and torch.equal(s.labels, labels) and not s.soft
    assert s.meta["label_kind"] == "hard" and s.meta["image_shape"] == [1, 8, 8] and len(s.meta["content_hash"]) == 64


def test_refuses_other_dataset_and_normalisation(tmp_path):
    path, *_ = make(tmp_path)
    with pytest.raises(DataError, match="made for dataset 'mnist', not 'mhist'"):
        synthetic.load(path, "mhist")
    with pytest.raises(DataError, match="normalisation mean .* differs"):
        synthetic.load(path, "mnist", (0.5,), (0.31,))


def test_refuses_altered_content(tmp_path):
    path, *_ = make(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip bits inside the tensor data
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="content hash does not match"):
        synthetic.load(path)


class Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "datadam_ipc10_real.safetensors"
    path.write_bytes(pickle.dumps({"images": Boom()}))
    with pytest.raises(DataError, match="not a safetensors distilled set .*refusing to load it"):
        synthetic.load(path, "mnist")
    assert not (tmp_path / "PWNED").exists()


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="dvc pull"):
        synthetic.load(tmp_path / "nope.safetensors")
