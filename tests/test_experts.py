"""Stage `experts`: resume, and expert training in parallel worker processes."""

import functools
import json

import pytest
import torch

from src.distill.experts import Experts, expert_file
from src.errors import DataError, UserError
from src.experts import run_experts


def expert_files(root):
    return {p.name: p.read_bytes() for p in sorted(root.glob("expert_*.safetensors"))}


def test_killed_expert_run_resumes_with_the_next_expert(pad_project, monkeypatch):
    root = pad_project / "models/experts/mnist"
    before = expert_files(root)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["experts"] = manifest["experts"][:1]  # as if killed while training expert 2
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "expert_001.safetensors").unlink()
    trained = []
    from src.distill import experts as ex_mod

    real = ex_mod.train_expert
    monkeypatch.setattr(ex_mod, "train_expert", lambda *a, **k: trained.append(a[6]) or real(*a, **k))
    run_experts("mnist")
    assert trained == [1, 2]
    assert expert_files(root) == before  # same seeds, same bytes


def test_workers_write_the_same_experts_as_one_process(pad_project, request):
    request.addfinalizer(functools.partial(torch.set_num_threads, torch.get_num_threads()))  # --threads sets it here
    root = pad_project / "models/experts/mnist"
    run_experts("mnist", resume=False, threads=1)
    one = expert_files(root)
    manifest = json.loads((root / "manifest.json").read_text())
    run_experts("mnist", resume=False, workers=2, threads=1)  # 3 experts in 2 spawned processes
    assert expert_files(root) == one  # seeded per expert: the bytes do not depend on the process
    assert {e["threads"] for e in manifest["experts"]} == {1} and manifest["environment"]["torch_threads"] == "1"
    again = json.loads((root / "manifest.json").read_text())
    assert [e["file"] for e in again["experts"]] == [expert_file(i) for i in range(3)]
    assert [e["md5"] for e in again["experts"]] == [e["md5"] for e in manifest["experts"]]
    assert [e["val_acc"] for e in again["experts"]] == [e["val_acc"] for e in manifest["experts"]]
    assert {e["threads"] for e in again["experts"]} == {1}


def test_an_out_of_order_interrupted_run_resumes_the_missing_experts_only(pad_project, monkeypatch):
    root = pad_project / "models/experts/mnist"
    before = expert_files(root)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["experts"] = [manifest["experts"][0], manifest["experts"][2]]  # workers: expert 1 was still training
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"manifest.json: lists experts \['expert_000.safetensors', "
                                        r"'expert_002.safetensors'\], expected expert_000 to expert_001 in order"):
        Experts.open(root, "mnist")
    trained = []
    from src.distill import experts as ex_mod

    real = ex_mod.train_expert
    monkeypatch.setattr(ex_mod, "train_expert", lambda *a, **k: trained.append(a[6]) or real(*a, **k))
    run_experts("mnist", workers=2)  # one expert left: trained here, no processes spawned
    assert trained == [1] and expert_files(root) == before
    assert Experts.open(root, "mnist").n == 3


def test_workers_and_threads_must_be_positive(pad_project):
    with pytest.raises(UserError, match=r"^--workers: 0 is not a positive number of processes$"):
        run_experts("mnist", workers=0)
    with pytest.raises(UserError, match=r"^--threads: -1 is not a positive number of threads$"):
        run_experts("mnist", threads=-1)
