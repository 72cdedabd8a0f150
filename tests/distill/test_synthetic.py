import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

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


def forge(tmp_path, tensors, **meta):
    """A file written by other code: valid safetensors, a hash that matches, its own layout."""
    full = {"format": synthetic.FORMAT, "dataset": "mnist", "image_shape": list(tensors["images"].shape[1:]),
            "content_hash": synthetic.content_hash(tensors), **meta}
    path = tmp_path / "forged.safetensors"
    save_file(tensors, str(path), metadata={"meta": json.dumps(full)})
    return path


@pytest.mark.parametrize("tensors, message", [
    ({"images": torch.randn(4, 8, 8), "labels": torch.arange(4)}, r"images are torch.float32 \(4, 8, 8\), expected"),
    ({"images": torch.randn(4, 1, 8, 8).double(), "labels": torch.arange(4)}, "images are torch.float64"),
    ({"images": torch.randn(4, 1, 8, 8), "labels": torch.arange(3)}, r"labels are torch.int64 \(3,\), expected int64 \(4,\)"),
    ({"images": torch.randn(4, 1, 8, 8), "labels": torch.arange(4).int()}, "labels are torch.int32"),
    ({"images": torch.randn(4, 1, 8, 8), "labels": torch.rand(4, 10, 1)},
     r"labels are torch.float32 \(4, 10, 1\), expected int64 \(4,\) or float32 \(4, classes\)"),
    ({"images": torch.randn(4, 1, 8, 8), "labels": torch.arange(4), "lr": torch.ones(2)}, "lr is .* expected a float scalar"),
])
def test_refuses_a_forged_set_with_the_wrong_layout(tmp_path, tensors, message):
    with pytest.raises(DataError, match=f"forged.safetensors: {message}"):
        synthetic.load(forge(tmp_path, tensors))


def test_refuses_metadata_that_disagrees_with_the_images(tmp_path):
    path = forge(tmp_path, {"images": torch.randn(4, 1, 8, 8), "labels": torch.arange(4)}, image_shape=[1, 28, 28])
    with pytest.raises(DataError, match=r"image_shape \[1, 28, 28\] differs from the images' \[1, 8, 8\]"):
        synthetic.load(path)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]"])
def test_refuses_metadata_that_is_not_a_json_object(tmp_path, raw):
    path = tmp_path / "bad_meta.safetensors"
    save_file({"images": torch.randn(2, 1, 8, 8), "labels": torch.arange(2)}, str(path), metadata={"meta": raw})
    with pytest.raises(DataError, match="bad_meta.safetensors: its ddkit metadata is not a JSON object"):
        synthetic.load(path)


def toy_dataset(size=8, classes=10):
    from src.data.store import Dataset, Split

    split = Split(torch.zeros(classes, 1, size, size, dtype=torch.uint8), torch.arange(classes))
    return Dataset("mnist", tuple(map(str, range(classes))), (0.13,), (0.31,), split, split, split)


def test_load_for_accepts_a_set_that_fits_the_dataset(tmp_path):
    path, images, _ = make(tmp_path)
    assert torch.equal(synthetic.load_for(path, toy_dataset()).images, images)


@pytest.mark.parametrize("ds, labels, message", [
    (toy_dataset(size=28), None, r"images of shape \[1, 8, 8\], this mnist data has \[1, 28, 28\] \(distilled at another"),
    (toy_dataset(classes=5), None, r"hard labels span 0..9, expected 0..4 \(mnist has 5 classes\)"),
    (toy_dataset(), torch.arange(20) - 1, r"hard labels span -1..18, expected 0..9"),
    (toy_dataset(), torch.rand(20, 7).softmax(1), "soft labels over 7 classes, mnist has 10"),
])
def test_load_for_refuses_a_set_that_does_not_fit(tmp_path, ds, labels, message):
    path, images, _ = make(tmp_path)
    if labels is not None:
        base = synthetic.load(path).meta
        path = synthetic.save(tmp_path / "other.safetensors", images, labels, base)
    with pytest.raises(DataError, match=message):
        synthetic.load_for(path, ds)
