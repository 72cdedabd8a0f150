"""Expert trajectories on disk: what `Experts.open` reads, and what it refuses (one line naming the
file and the key) before distillation reads anything."""

import json

import pytest
import torch

from src.data import store
from src.distill.__main__ import run_distill
from src.distill.experts import Experts, resumable_manifest
from src.errors import DataError


def test_experts_manifest_trajectories_and_difficulty(pad_project):
    ex = Experts.open(pad_project / "models/experts/mnist", "mnist")
    m = ex.manifest
    assert ex.n == 3 and ex.epochs == 3 and m["dataset"] == "mnist" and m["seed"] == 0
    assert sum(torch.tensor(s).prod() for s in m["param_shapes"]) == m["n_params"]
    traj0 = torch.stack([ex.params(0, t) for t in range(4)])
    assert traj0.shape == (4, m["n_params"]) and not torch.equal(traj0[0], traj0[-1])
    assert not torch.equal(ex.params(0, 3), ex.params(1, 3))  # experts differ (own init and shuffling)
    pool, scores = ex.difficulty()
    ds = store.load("mnist")
    assert len(pool) == len(ds.train) and (scores >= 0).all() and (scores <= 2 ** 0.5 + 1e-6).all()


def test_corrupt_expert_file_is_named(pad_project):
    root = pad_project / "models/experts/mnist"
    data = bytearray((root / "expert_001.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (root / "expert_001.safetensors").write_bytes(bytes(data))
    with pytest.raises(DataError, match="expert_001.safetensors: md5 does not match"):
        Experts.open(root, "mnist")
    with pytest.raises(DataError, match="expert_001.safetensors"):
        run_distill("mnist-pad-ipc2-real")
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json: not valid JSON"):
        Experts.open(root)



def edit_manifest(root, change):
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return manifest


DAMAGE = [
    (lambda m: m["experts"][1].pop("md5"), r"manifest.json: experts.1.md5: Field required"),
    (lambda m: m["experts"][0].update(md5="xyz"), r"manifest.json: experts.0.md5: String should match pattern"),
    (lambda m: m.pop("difficulty"), r"manifest.json: difficulty: Field required"),
    (lambda m: m["difficulty"].update(file="../../etc/passwd"), r"difficulty.file: Value error, '../../etc/passwd' is not a file name"),
    (lambda m: m.update(lr_teacher=-1), r"manifest.json: lr_teacher: Input should be greater than 0"),
    (lambda m: m["model"].update(name="transformer"), r"manifest.json: model.name: Input should be"),
    (lambda m: m.update(experts="all"), r"manifest.json: experts: Input should be a valid list"),
    (lambda m: m["param_shapes"].pop(), r"param_names but \d+ param_shapes"),
    (lambda m: m.update(n_params=m["n_params"] + 1), r"param_shapes hold \d+ parameters, n_params says"),
    (lambda m: m.update(epochs_saved=m["epochs_saved"] - 1), r"expert_000.safetensors: trajectory of shape \[4, \d+\], .* says \[3, \d+\]"),
]


def test_damaged_manifest_is_one_clear_error(pad_project):
    root = pad_project / "models/experts/mnist"
    original = (root / "manifest.json").read_text()
    Experts.open(root, "mnist")  # as written, it opens
    for change, message in DAMAGE:  # one project for every case: each restores the manifest first
        (root / "manifest.json").write_text(original)
        edit_manifest(root, change)
        with pytest.raises(DataError, match=message):
            Experts.open(root, "mnist")


def test_a_damaged_manifest_is_not_resumed(pad_project):
    root = pad_project / "models/experts/mnist"
    key = json.loads((root / "manifest.json").read_text())["key"]
    assert resumable_manifest(root, key) is not None
    edit_manifest(root, lambda m: m["experts"][0].pop("file"))
    assert resumable_manifest(root, key) is None  # the experts stage starts over instead of crashing
