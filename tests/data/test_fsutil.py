import hashlib
import os

from src.data.fsutil import md5sum


def test_md5sum_is_the_files_md5_and_follows_a_rewrite(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"first")
    assert md5sum(f) == hashlib.md5(b"first").hexdigest()
    assert md5sum(str(f)) == md5sum(f)                 # cached, same answer
    f.write_bytes(b"other")                            # same size: the mtime must invalidate the cache
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert md5sum(f) == hashlib.md5(b"other").hexdigest()
