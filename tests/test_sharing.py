"""Sharing distilled sets through DVC: push to a remote, clone, pull one set, re-evaluate to the
same accuracy. Once against a local-directory remote, once against an S3-compatible server (moto)
started on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.config import ModelSpec
from src.distill import synthetic
from src.protocol import Protocol, evaluate_set

BIN = Path(sys.executable).parent
SET = "data/distilled/mnist/datadam_ipc2_real.safetensors"
MAKE_SET = f"""
import torch
from src.distill import synthetic
g = torch.Generator().manual_seed(0)
synthetic.save("{SET}", torch.randn(6, 1, 12, 12, generator=g), torch.arange(3).repeat_interleave(2),
               {{"dataset": "mnist", "method": "datadam", "ipc": 2, "init": "real", "mean": [0.2], "std": [0.3]}})
"""


def sh(*args, cwd, env=None):
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r.stdout


def make_repo(root: Path, env) -> Path:
    repo = root / "origin"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    sh("git", "init", "-q", cwd=repo)
    sh(str(BIN / "dvc"), "init", "-q", cwd=repo, env=env)
    (repo / "make_set.py").write_text(MAKE_SET)
    (repo / "dvc.yaml").write_text(f"stages:\n  distill:\n    cmd: {sys.executable} make_set.py\n"
                                   f"    deps: [make_set.py]\n    outs: [{SET}]\n")
    sh(str(BIN / "dvc"), "repro", "-q", cwd=repo, env=env)
    sh(*git, "add", "-A", cwd=repo)
    sh(*git, "commit", "-qm", "pipeline", cwd=repo)
    return repo


def accuracy_of(path: Path) -> list[float]:
    s = synthetic.load(path, "mnist", (0.2,), (0.3,))
    g = torch.Generator().manual_seed(1)
    test_x = torch.randint(0, 255, (30, 1, 12, 12), generator=g, dtype=torch.uint8)
    test_y = torch.arange(3).repeat(10)
    r = evaluate_set(s.images, s.labels, test_x, test_y, lambda u: (u.float() / 255 - 0.2) / 0.3,
                     ModelSpec(depth=1, width=4), 3, Protocol(epochs=3, dsa_strategy="color_crop"), 2, 0,
                     torch.device("cpu"))
    return r.accs


def round_trip(tmp_path: Path, env: dict, add_remote) -> None:
    repo = make_repo(tmp_path, env)
    add_remote(repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    sh(*git, "commit", "-qam", "remote", cwd=repo)
    sh(str(BIN / "dvc"), "push", "-q", cwd=repo, env=env)
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    assert not (clone / SET).exists()
    sh(str(BIN / "dvc"), "pull", "-q", SET, cwd=clone, env=env)
    assert (clone / SET).read_bytes() == (repo / SET).read_bytes()
    assert accuracy_of(clone / SET) == accuracy_of(repo / SET)


def test_local_remote_round_trip(tmp_path):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    remote = tmp_path / "remote"

    def add(repo):
        sh(str(BIN / "dvc"), "remote", "add", "-d", "local", str(remote), cwd=repo, env=env)
    round_trip(tmp_path, env, add)
    assert any(remote.rglob("*"))


def test_s3_remote_round_trip(tmp_path):
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        env = {**os.environ, **creds, "DVC_NO_ANALYTICS": "1"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="ddkit")

        def add(repo):
            sh(str(BIN / "dvc"), "remote", "add", "-d", "s3", "s3://ddkit/store", cwd=repo, env=env)
            sh(str(BIN / "dvc"), "remote", "modify", "s3", "endpointurl", endpoint, cwd=repo, env=env)
        round_trip(tmp_path, env, add)
        objects = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing").list_objects_v2(Bucket="ddkit")
        assert objects["KeyCount"] >= 1
    finally:
        server.stop()
