"""Reading the JSON files that stages hand to each other (metrics files, NAS study results).

They are written atomically by the pipeline, but a user can edit or truncate one; reading it back
then fails in one line naming the file, not with a parser traceback from deep inside a stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from src.errors import DataError


def read_object(path: str | Path) -> dict:
    """The JSON object in `path` (an existing file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}); rebuild it with `dvc repro`") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: holds a JSON {type(data).__name__}, expected an object; rebuild it with `dvc repro`")
    return data
