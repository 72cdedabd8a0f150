"""Neural-architecture search on a distilled proxy: `python -m src.nas --proxy synthetic|full|random`."""

from pathlib import Path

NAS_DIR = Path("reports/nas")  # studies, per-proxy results and the comparison: every NAS stage reads and writes here
STALE_S = 60.0  # default: a RUNNING trial unstamped this long belongs to a worker that was killed
