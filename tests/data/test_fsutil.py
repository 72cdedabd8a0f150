import hashlib
import os

import pytest

from src.data.fsutil import md5sum, read_json
from src.errors import DataError


def test_md5sum_is_the_files_md5_and_follows_a_rewrite(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"first")
    assert md5sum(f) == hashlib.md5(b"first").hexdigest()
    assert md5sum(str(f)) == md5sum(f)                 # cached, same answer
    f.write_bytes(b"other")                            # same size: the mtime must invalidate the cache
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert md5sum(f) == hashlib.md5(b"other").hexdigest()


def test_read_json_reads_an_object_and_refuses_anything_else(tmp_path):
    good = tmp_path / "m.json"
    good.write_text('{"acc_mean": 96.1, "accs": [96.0, 96.2]}')
    assert read_json(good) == {"acc_mean": 96.1, "accs": [96.0, 96.2]}
    for text, message in (('{"acc_mean": 96.', "not valid JSON"), ("", "not valid JSON"), ("[1]", "JSON list"),
                          ("3.5", "JSON float"), (b"\xff\xfe{", "not valid JSON")):
        bad = tmp_path / "bad.json"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(DataError, match=message) as err:
            read_json(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
