"""The `ddkit` console script: one subcommand per pipeline stage (each also runs as `python -m src.<stage>`),
and `show`, which checks a distilled set or experts directory and prints its provenance."""

from __future__ import annotations

import typer

from src import baseline, evaluate, experts, prepare, report, show
from src.distill import __main__ as distill
from src.nas import __main__ as nas_main
from src.nas import compare as nas_compare

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dataset distillation toolkit: every stage of the DVC pipeline as a subcommand.")
app.command("prepare", help="Fetch, verify and pack one dataset (stage prepare@<dataset>).")(prepare.main)
app.command("baseline", help="Train the full-data baseline (stage baseline@<dataset>).")(baseline.main)
app.command("distill", help="Distill one synthetic set (stages distill@<run>, distill-pad@<run>).")(distill.main)
app.command("experts", help="PAD's difficulty scores and expert trajectories (stage experts@<dataset>).")(experts.main)
app.command("nas", help="Architecture search under one proxy (stages nas-full@<dataset>, nas@<dataset>-<proxy>).")(nas_main.main)
app.command("nas-compare", help="Compare the proxies' rankings (stage nas-compare@<dataset>).")(nas_compare.main)
app.command("report", help="Write reports/summary.md and its figures (stage report).")(report.main)
app.command("show", help="Check a distilled set or PAD experts and print what they hold and where they came from.")(show.main)
app.add_typer(evaluate.app, name="evaluate", help="Evaluate a distilled set or a random real subset (stages evaluate@, random@).")

if __name__ == "__main__":
    app()
