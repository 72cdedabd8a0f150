"""Reading the stages' JSON files back: an object, or one line naming the file."""

import pytest

from src.errors import DataError
from src.jsonfile import read_object


def test_reads_an_object_and_refuses_anything_else(tmp_path):
    good = tmp_path / "m.json"
    good.write_text('{"acc_mean": 96.1, "accs": [96.0, 96.2]}')
    assert read_object(good) == {"acc_mean": 96.1, "accs": [96.0, 96.2]}
    for text, message in (('{"acc_mean": 96.', "not valid JSON"), ("", "not valid JSON"), ("[1]", "JSON list"),
                          ("3.5", "JSON float"), (b"\xff\xfe{", "not valid JSON")):
        bad = tmp_path / "bad.json"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(DataError, match=message) as err:
            read_object(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
