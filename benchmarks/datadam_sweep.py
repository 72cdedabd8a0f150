"""DataDAM settings scored on the validation split: distil with overrides, evaluate the final set.

    python benchmarks/datadam_sweep.py --ipc 1 --variant base: --variant br256:batch_real=256 --anchor

Each variant is `name:key=value,...` over distill.datadam.mnist (values parsed as YAML; an empty
body is the CPU profile as it is). For every variant: distil from scratch (params.yaml seed, real
init unless `init=` is given to --init), then train `--models` evaluation networks (evaluate.mnist)
on the final images and score them on the **validation split** (settings are chosen there, never on
the test set). `--anchor` also scores the pipeline's random real subset of the same size.
`--params` takes another params file and `--preset paper` applies the paper profile (w128, 8,000
iterations, 1,000 evaluation epochs; on a GPU add `--models 10 --device cuda`). Prints one JSON line per
variant, naming its machine, commit and command. Reads data/processed/mnist.

`--at 8000,12000` also scores each variant's images after those iterations, in the same run: the run
stops at each mark, is scored, and resumes from its last checkpoint (every per-iteration draw comes from
(seed, iteration), so the images at a mark are exactly those of a run of that length), one row per mark.
This measures what a longer run buys at the cost of the longest run alone; a length chosen here is then
scored on test through the stage code (benchmarks/paper_cpu.sh), which writes the set and its metadata.

`--protocol name:key=value,...` (repeatable, over evaluate.mnist: lr, epochs, batch_size, ...) scores every
set, and the anchor, under each evaluation protocol given, one row each (`protocol` names it): a protocol
setting is chosen on validation like any other, and must be applied to the anchor as to the sets.

`--set FILE` scores one distilled set already made (e.g. one `paper_cpu.sh` kept with PAPER_CPU_KEEP)
under the protocols instead of distilling variants: its images per class come from the file, so an
evaluation setting can be checked on validation without distilling the set again.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.sweeps import provenance, sweep_parser, variants  # noqa: E402
from src.config import load_params  # noqa: E402
from src.data import store  # noqa: E402
from src.distill import datadam, synthetic  # noqa: E402
from src.errors import DataError, UserError  # noqa: E402
from src.evaluate import _protocol  # noqa: E402
from src.protocol import anchor_subset, evaluate_set  # noqa: E402
from src.runtime import configure_threads, pick_device  # noqa: E402
from src.ui import cli_errors, progress  # noqa: E402


@cli_errors  # a bad params file or preset: one line, exit 2
def main() -> None:
    ap = sweep_parser(__doc__, models=3, ipc=1)
    ap.add_argument("--init", choices=("real", "noise"), default="real")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--at", type=lambda t: [int(v) for v in t.split(",")], default=[],
                    help="comma-separated iteration counts at which each variant is also scored")
    ap.add_argument("--protocol", action="append", default=[],
                    help="name:key=value,... over evaluate.mnist; each set is scored under each (default: as it is)")
    ap.add_argument("--set", type=Path, default=None,
                    help="score this distilled set file instead of distilling (its images per class are the file's)")
    ap.set_defaults(ipc=None)  # None: not given, so --set can tell a conflicting --ipc from the default
    args = ap.parse_args()
    configure_threads()
    params = load_params(args.params, args.preset)
    where = provenance()
    ds = store.load("mnist")
    given = None
    if args.set is not None:
        if args.variant:
            raise UserError(f"--set {args.set}: scores a set already made; --variant distils new ones (give one or the other)")
        given = load_given(args.set, ds)
    args.ipc = images_per_class(args.ipc, given["row"]["ipc"] if given else None, args.set)
    base, spec = params.distill.datadam["mnist"], params.evaluate.at("mnist", args.ipc)
    runs = variants(args.variant, base)
    protocols = variants(args.protocol, spec, flag="--protocol") if args.protocol else None
    device = pick_device(args.device)

    def emit(row: dict, images, labels) -> None:
        for scored in score_val(ds, images, labels, spec, protocols, args.models, params.seed, device):
            print(json.dumps({**where, **row, **scored}), flush=True)

    if args.anchor:  # the same subset as stage random@mnist-ipc<ipc>
        idx = anchor_subset(ds.train.y, args.ipc, ds.num_classes, params.seed, "mnist")
        emit({"variant": "random_real_anchor", "ipc": args.ipc, "split": "val"},
             ds.normalize(ds.train.x[idx]), ds.train.y[idx])
    if given is not None:
        emit(given["row"], given["images"], given["labels"])
    for name, updates, cfg in runs:
        for n, r, seconds in distill_at(ds, cfg, args.ipc, args.init, params.seed, device, args.at, name):
            row = {"variant": name, "overrides": updates, "ipc": args.ipc, "init": args.init, "iterations": n,
                   "split": "val", "distill_seconds": round(seconds, 1),
                   "final_loss_mean50": round(sum(r.losses[-50:]) / len(r.losses[-50:]), 4)}
            if r.resumed_from:
                row["resumed_from"] = r.resumed_from
            emit(row, r.images, r.labels)


def images_per_class(flag: int | None, in_file: int | None, path: Path | None) -> int:
    """The set size a run scores: --ipc's (default 1), or a given set's, which a different --ipc contradicts."""
    if in_file is None:
        return 1 if flag is None else flag
    if flag not in (None, in_file):
        raise UserError(f"--ipc {flag}: {path} holds {in_file} images per class (leave --ipc out with --set)")
    return in_file


def load_given(path: Path, ds) -> dict:
    """A DataDAM set file, checked as the stages read it (format, content hash, fit to `ds`), as the
    images and labels to score and the row that names it."""
    syn = synthetic.load_for(path, ds)
    ipc, extra = divmod(len(syn.images), ds.num_classes)
    if syn.meta.get("method") != "datadam" or syn.lr is not None or syn.soft or extra:
        raise DataError(f"{path}: a {syn.meta.get('method')} set with {len(syn.images)} images; --set scores DataDAM sets "
                        f"(hard labels, no learned lr, the same number of images per class): use `ddkit evaluate file`")
    row = {"variant": f"set:{path.name}", "set": str(path), "content_hash": syn.meta["content_hash"], "ipc": ipc,
           "init": syn.meta.get("init"), "split": "val"}
    return {"row": row, "images": syn.images, "labels": syn.labels}


def score_val(ds, images, labels, spec, protocols, models: int, seed: int, device) -> Iterator[dict]:
    """The set's validation accuracy under the profile's protocol (`protocols` None), or under each
    (name, overrides, EvalSpec) of `protocols`, one dict each, yielded as each is scored (a long scan
    that is stopped keeps the rows it finished)."""
    for name, updates, ps in protocols or [(None, None, spec)]:
        ev = evaluate_set(images, labels, ds.val.x, ds.val.y, ds.normalize, ps.model, ds.num_classes, _protocol(ps),
                          models, seed, device)
        named = {} if name is None else {"protocol": name, "protocol_overrides": updates}
        yield {**named, "eval_lr": ps.lr, "acc_mean": round(float(np.mean(ev.accs)), 2), "accs": [round(a, 2) for a in ev.accs],
               "eval_seconds": round(ev.seconds, 1)}


def distill_at(ds, cfg, ipc: int, init: str, seed: int, device, at: list[int], name: str = "sweep"):
    """(n, result, seconds so far) after each of the iteration counts `at` below cfg.iterations, and
    after cfg.iterations: the run stops at each mark and resumes from its checkpoint, so the images
    at a mark are those of an uninterrupted run of that length (tests/test_sweeps.py)."""
    marks = sorted({a for a in at if 0 < a < cfg.iterations} | {cfg.iterations})
    seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:  # the checkpoint that carries the run from mark to mark
        for n in marks:
            t0 = time.perf_counter()
            r = datadam.distill(ds, cfg.model_copy(update={"iterations": n}), ipc, init, seed, device,
                                ckpt_path=Path(tmp) / "run.safetensors", ckpt_key="sweep",
                                progress=functools.partial(progress, desc=f"distill {name}"))
            seconds += time.perf_counter() - t0
            yield n, r, seconds

if __name__ == "__main__":
    main()
