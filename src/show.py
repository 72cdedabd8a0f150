"""`ddkit show PATH`: check a distilled set or a directory of PAD experts and say what it is and
where it came from.

    ddkit show data/distilled/mnist/datadam_ipc10_real.safetensors [--json]
    ddkit show models/experts/mnist

For files fetched with `dvc pull` or received from someone else. A set gets every check `load`
runs (safetensors only, the format, the content hash over the tensors, the tensors' layout); an
experts directory every check distillation runs before reading it (the manifest, every file's md5).
Then it prints what they hold and their provenance: the commit and seed that made them and the
environment (torch version and thread count, CPU, GPU), since the same seed reproduces them only
with those. Anything that fails a check is one line on stderr naming it, exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def describe(path: str | Path) -> dict:
    """What `show` prints, as a dict: the set's checked contents and its metadata as written."""
    from src.distill import synthetic

    s = synthetic.load(path)
    meta = dict(s.meta)
    meta.pop("params", None)  # the full settings: in --json only, under "params"
    return {"file": str(path), "images": len(s.images), "image_shape": list(s.images.shape[1:]),
            "labels": "soft" if s.soft else "hard", "train_lr": None if s.lr is None else float(s.lr),
            "meta": meta, "params": s.meta.get("params")}


def describe_experts(root: str | Path) -> dict:
    """What `show` prints for an experts directory: its verified manifest."""
    from src.distill.experts import Experts

    manifest = dict(Experts.open(root).manifest)
    layout = {k: manifest.pop(k, None) for k in ("param_names", "param_shapes")}  # bulky: under "layout"
    return {"dir": str(root), "manifest": manifest, "layout": layout}


def _made_by(m: dict) -> str:
    commit = str(m.get("git_commit", "?"))[:12]
    dirty = {"true": " with uncommitted changes", "false": ""}.get(m.get("git_dirty"), " (tree state not recorded)")
    made = f"  made by: commit {commit}{dirty}, seed {m.get('seed', '?')}"
    if isinstance(m.get("seconds"), (int, float)):
        made += f", {m['seconds']:.0f} s" + (f" on {m['device']}" if "device" in m else "")
    return made


def _environment(m: dict) -> str:
    env = m.get("environment")
    if not isinstance(env, dict):
        return "  environment: not recorded (written before ddkit recorded it)"
    threads = f", {env['torch_threads']} threads" if "torch_threads" in env else ""
    gpu = f", GPU {env['gpu']}" if "gpu" in env else ""
    # whether the machine granted amp_cpu bf16 (recorded since session 20); a stage with it off ran float32
    amp = {"true": " (bf16 for amp_cpu: yes)", "false": " (bf16 for amp_cpu: no)"}.get(env.get("cpu_bf16"), "")
    return (f"  environment: torch {env.get('torch', '?')}{threads}, CPU {env.get('cpu', '?')}{amp}{gpu}, "
            f"python {env.get('python', '?')}")


def lines(d: dict) -> list[str]:
    m = d["meta"]
    shape = "x".join(map(str, d["image_shape"]))
    return [f"{d['file']}: a valid {m['format']} set (content hash {m['content_hash'][:16]}..., checked)",
            f"  {m.get('dataset', '?')}, {m.get('method', '?')}, {m.get('ipc', '?')} images per class "
            f"({d['images']} images of {shape}), init {m.get('init', '?')}, {d['labels']} labels",
            "  trains at: " + ("the evaluation protocol's learning rate" if d["train_lr"] is None
                               else f"learning rate {d['train_lr']:.4g} (stored in the set)"),
            _made_by(m), *_inputs(m), _environment(m)]


def _inputs(m: dict) -> list[str]:
    files = m.get("inputs")
    if not isinstance(files, dict):
        return ["  from: input files not recorded (written before ddkit recorded them)"]
    return [f"  from: {path} (md5 {md5})" for path, md5 in files.items()]


def expert_lines(d: dict) -> list[str]:
    m = d["manifest"]
    accs = [e["val_acc"] for e in m["experts"]]
    threads = sorted({e.get("threads") for e in m["experts"] if e.get("threads") is not None})
    return [f"{d['dir']}: {len(accs)} verified {m['format']} expert trajectories (every file's md5 checked)",
            f"  {m.get('dataset', '?')}, {m.get('model_name', '?')}, {m.get('n_params', '?')} parameters, "
            f"{m.get('epochs_saved', '?')} epochs saved ({m.get('dtype', '?')}), lr_teacher {m.get('lr_teacher', '?')}, "
            f"pool of {m.get('pool_size', '?')} training images",
            "  validation accuracy: " + " / ".join(f"{a:.2f}" for a in accs) + f" % (mean {sum(accs) / len(accs):.2f})"
            + (f", trained with {' or '.join(map(str, threads))} torch threads" if threads else ""),
            _made_by(m), _environment(m)]


@app.command()
@cli_errors
def main(path: Path = typer.Argument(..., help="a distilled set (.safetensors) or an experts directory"),
         as_json: bool = typer.Option(False, "--json", help="print everything, the full params included, as JSON")) -> None:
    """Check a distilled set or PAD experts (hashes, layout) and print what they hold and where they came from."""
    experts = path.is_dir()
    d = describe_experts(path) if experts else describe(path)
    say(json.dumps(d, indent=2, default=str) if as_json else "\n".join(expert_lines(d) if experts else lines(d)))


if __name__ == "__main__":
    app()
