"""`ddkit show FILE`: check a distilled set and say what it is and where it came from.

    ddkit show data/distilled/mnist/datadam_ipc10_real.safetensors [--json]

For a set fetched with `dvc pull` or received from someone else: it runs every check `load` runs
(safetensors only, the format, the content hash over the tensors, the tensors' layout), then prints
what the set holds and its provenance: the commit and seed that made it and the environment (torch
version and thread count, CPU, GPU), since the same seed reproduces a set only with those. A file
that fails a check is one line on stderr naming it, exit code 2.
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


def lines(d: dict) -> list[str]:
    m = d["meta"]
    env = m.get("environment")
    shape = "x".join(map(str, d["image_shape"]))
    commit = str(m.get("git_commit", "?"))[:12]
    dirty = {"true": " with uncommitted changes", "false": ""}.get(m.get("git_dirty"), " (tree state not recorded)")
    made = f"commit {commit}{dirty}, seed {m.get('seed', '?')}"
    if isinstance(m.get("seconds"), (int, float)):
        made += f", {m['seconds']:.0f} s on {m.get('device', '?')}"
    out = [f"{d['file']}: a valid {m['format']} set (content hash {m['content_hash'][:16]}..., checked)",
           f"  {m.get('dataset', '?')}, {m.get('method', '?')}, {m.get('ipc', '?')} images per class "
           f"({d['images']} images of {shape}), init {m.get('init', '?')}, {d['labels']} labels",
           "  trains at: " + ("the evaluation protocol's learning rate" if d["train_lr"] is None
                              else f"learning rate {d['train_lr']:.4g} (stored in the set)"),
           f"  made by: {made}"]
    if isinstance(env, dict):
        threads = f", {env['torch_threads']} threads" if "torch_threads" in env else ""
        gpu = f", GPU {env['gpu']}" if "gpu" in env else ""
        out.append(f"  environment: torch {env.get('torch', '?')}{threads}, CPU {env.get('cpu', '?')}{gpu}, "
                   f"python {env.get('python', '?')}")
    else:
        out.append("  environment: not recorded (a set written before ddkit recorded it)")
    return out


@app.command()
@cli_errors
def main(path: Path = typer.Argument(..., help="a distilled set (.safetensors)"),
         as_json: bool = typer.Option(False, "--json", help="print everything, the full params included, as JSON")) -> None:
    """Check a distilled set (hash, layout) and print what it holds and where it came from."""
    d = describe(path)
    say(json.dumps(d, indent=2, default=str) if as_json else "\n".join(lines(d)))


if __name__ == "__main__":
    app()
