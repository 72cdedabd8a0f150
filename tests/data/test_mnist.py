import gzip
import shutil

import numpy as np
import pytest

from src.data import mnist
from src.errors import DataError
from src.prepare import prepare
from tests.conftest import SHARED_MNIST, run_module, set_param, write_idx

needs_shared = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/datasets/mnist not present")


@needs_shared
def test_real_mnist_fetch_verifies_and_loads(tmp_path):
    raw = mnist.fetch(tmp_path / "raw", SHARED_MNIST)
    arrays = mnist.load(raw)
    assert arrays["train_x"].shape == (60000, 28, 28) and arrays["test_x"].shape == (10000, 28, 28)
    assert np.bincount(arrays["train_y"]).tolist()[:2] == [5923, 6742]


@needs_shared
def test_prepare_packs_mnist_with_disjoint_split(workdir):
    from src.data import store

    prepare("mnist", source_dir=SHARED_MNIST)
    ds = store.load("mnist")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (55000, 5000, 10000)
    assert ds.train.x.dtype.is_floating_point is False and ds.im_size == (28, 28)
    assert 0.12 < ds.mean[0] < 0.14 and 0.29 < ds.std[0] < 0.32
    # no training image is also a validation image (distilled sets read only `train`)
    tr = {bytes(r) for r in ds.train.x[:, 0].reshape(len(ds.train), -1).numpy()[:5000]}
    va = {bytes(r) for r in ds.val.x[:, 0].reshape(len(ds.val), -1).numpy()}
    assert not tr & va


def test_checksum_mismatch_names_file_and_leaves_nothing(tmp_path, mnist_like):
    raw = tmp_path / "data" / "raw" / "mnist"
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: md5 .* does not match"):
        mnist.fetch(raw, mnist_like, verify_md5=True)
    assert not raw.exists() and not list(raw.parent.glob(".*tmp*"))


def test_opt_out_accepts_other_idx_dataset(tmp_path, mnist_like):
    arrays = mnist.load(mnist.fetch(tmp_path / "raw", mnist_like, verify_md5=False))
    assert arrays["train_x"].shape == (200, 28, 28) and arrays["test_y"].shape == (100,)


def test_truncated_gzip(tmp_path, mnist_like):
    f = mnist_like / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: not a complete gzip file"):
        mnist.load(mnist_like)


def test_wrong_magic(mnist_like):
    write_idx(mnist_like / "train-labels-idx1-ubyte.gz", np.zeros(200), 2051)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: idx magic 2051, expected 2049"):
        mnist.load(mnist_like)


def test_wrong_shape(mnist_like):
    write_idx(mnist_like / "t10k-images-idx3-ubyte.gz", np.zeros((100, 32, 32)), 2051)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: idx shape \(100, 32, 32\), expected \(n, 28, 28\)"):
        mnist.load(mnist_like)


def test_short_body(mnist_like):
    f = mnist_like / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(f.read_bytes())
    f.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: 90 bytes of data, header promises 100"):
        mnist.load(mnist_like)


def test_missing_source_file(tmp_path, mnist_like):
    (mnist_like / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: missing"):
        mnist.fetch(tmp_path / "raw", mnist_like, verify_md5=False)
    assert not (tmp_path / "raw").exists()


def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(workdir, mnist_like):
    bad = mnist_like / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:30])
    r = run_module("src.prepare", "mnist", "--source-dir", mnist_like, "--no-verify")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "train-labels-idx1-ubyte.gz" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (workdir / "data" / "processed" / "mnist").exists()
    assert sorted(p.name for p in (workdir / "data").rglob("*") if p.is_file() and "processed" in str(p)) == []


def test_prepare_keeps_valid_raw_files(workdir, mnist_like):
    set_param(workdir, "prepare.mnist.val_size", 20)
    prepare("mnist", source_dir=mnist_like, verify=False)
    shutil.rmtree(mnist_like)  # the second run needs no source: raw files are already there
    prepare("mnist", verify=False)
    assert (workdir / "data/processed/mnist/data.safetensors").is_file()


def test_no_reachable_mirror_says_where_to_put_the_files_and_leaves_nothing(tmp_path, monkeypatch):
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.delenv(mnist.ENV_DIR, raising=False)
    monkeypatch.setattr(mnist.urllib.request, "urlopen", offline)
    raw = tmp_path / "data" / "raw" / "mnist"
    with pytest.raises(DataError, match=r"^train-images-idx3-ubyte.gz: could not download from any mirror \(https://.*"
                                        r"network unreachable.*\); place the files in a directory and set DD_MNIST_DIR$"):
        mnist.fetch(raw)
    assert not raw.exists() and not list(raw.parent.glob(".*tmp*"))


def test_labels_outside_0_9_are_refused(mnist_like):
    write_idx(mnist_like / "t10k-labels-idx1-ubyte.gz", np.full(100, 10), 2049)
    with pytest.raises(DataError, match=r"test labels must be 0-9, found 10$"):
        mnist.load(mnist_like)
