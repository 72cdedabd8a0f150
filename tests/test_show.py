"""`ddkit show`: a distilled set's checked contents and provenance, or one line saying why not."""

import json

import torch

from src.distill import synthetic
from tests.conftest import run_module

ENV = {"torch": "2.14.1", "torch_threads": "2", "cpu": "Some CPU", "python": "3.11.7", "platform": "Linux"}


def make(tmp_path, lr=None, **meta):
    base = {"dataset": "mnist", "method": "pad", "ipc": 2, "init": "real", "mean": [0.13], "std": [0.31], "seed": 7,
            "git_commit": "0123456789abcdef" * 2 + "01234567", "git_dirty": "false", "seconds": 12.3, "device": "cpu",
            "params": {"pad": {"iterations": 5}}}
    labels = torch.softmax(torch.randn(20, 10), 1)
    return synthetic.save(tmp_path / "set.safetensors", torch.randn(20, 1, 8, 8), labels, {**base, **meta}, lr=lr)


def show(*args):
    return run_module("src.show", *args)


def test_prints_contents_and_provenance(tmp_path):
    path = make(tmp_path, lr=torch.tensor(0.0375), environment=ENV,
                inputs={"data/processed/mnist/data.safetensors": "a" * 32, "models/experts/mnist/manifest.json": "b" * 32})
    r = show(path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{path}: a valid ddkit-distilled/1 set (content hash ")
    assert lines[1] == "  mnist, pad, 2 images per class (20 images of 1x8x8), init real, soft labels"
    assert lines[2] == "  trains at: learning rate 0.0375 (stored in the set)"
    assert lines[3] == "  made by: commit 0123456789ab, seed 7, 12 s on cpu"
    assert lines[4] == f"  from: data/processed/mnist/data.safetensors (md5 {'a' * 32})"
    assert lines[5] == f"  from: models/experts/mnist/manifest.json (md5 {'b' * 32})"
    assert lines[6] == "  environment: torch 2.14.1, 2 threads, CPU Some CPU, python 3.11.7"
    r = show(make(tmp_path, environment={**ENV, "cpu_bf16": "false"}))  # a CPU without bf16 hardware
    assert "  environment: torch 2.14.1, 2 threads, CPU Some CPU (bf16 for amp_cpu: no), python 3.11.7" in r.stdout.splitlines()


def test_json_holds_the_metadata_and_params(tmp_path):
    path = make(tmp_path, environment=ENV, git_dirty="true")
    d = json.loads(show(path, "--json").stdout)
    assert d["images"] == 20 and d["image_shape"] == [1, 8, 8] and d["labels"] == "soft" and d["train_lr"] is None
    assert d["meta"]["environment"] == ENV and d["params"] == {"pad": {"iterations": 5}} and "params" not in d["meta"]
    assert d["meta"]["content_hash"] == synthetic.load(path).meta["content_hash"]
    assert "with uncommitted changes" in show(path).stdout


def test_a_set_without_environment_says_so(tmp_path):
    r = show(make(tmp_path))
    assert r.returncode == 0 and "environment: not recorded" in r.stdout and "from: input files not recorded" in r.stdout


def test_bad_file_is_one_line_and_exit_2(tmp_path):
    path = make(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    for bad in (path, tmp_path / "missing.safetensors"):
        r = show(bad)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert str(bad) in r.stderr


def test_experts_directory_verified_and_described(pad_project):
    import torch as t

    root = pad_project / "models/experts/mnist"
    r = show(root)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{root}: 3 verified ddkit-experts/1 expert trajectories (every file's md5 checked)"
    assert "3 epochs saved (float32)" in lines[1] and "lr_teacher 0.05" in lines[1]
    manifest = json.loads((root / "manifest.json").read_text())
    accs = " / ".join(f"{e['val_acc']:.2f}" for e in manifest["experts"])
    assert lines[2].startswith(f"  validation accuracy: {accs} % (mean ")
    assert lines[2].endswith(f"trained with {t.get_num_threads()} torch threads")
    assert lines[4].startswith(f"  environment: torch {t.__version__}, {t.get_num_threads()} threads")
    d = json.loads(show(root, "--json").stdout)
    assert d["manifest"]["experts"] == manifest["experts"] and d["layout"]["param_shapes"] == manifest["param_shapes"]
    raw = bytearray((root / "expert_001.safetensors").read_bytes())
    raw[-3] ^= 0xFF
    (root / "expert_001.safetensors").write_bytes(bytes(raw))
    r = show(root)
    assert r.returncode == 2 and "expert_001.safetensors: md5 does not match" in r.stderr and r.stdout == ""
