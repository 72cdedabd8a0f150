"""Stage `report`: reports/summary.md and figures, every number read from a metrics file.

    python -m src.report

Reads reports/metrics/<dataset>/*.json and reports/nas/<dataset>_*.json (whatever the pipeline
produced) and writes reports/summary.md with reports/figures/*.png: accuracy against images per
class (with the random-real anchor and published references), full-data vs distilled training
(accuracy and wall time), the cross-architecture table, the NAS comparison, and links to the
distilled images at the start and end of each run.
"""

from __future__ import annotations

import platform
from pathlib import Path

import typer

from src.data.fsutil import read_json
from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])
METRICS, NAS, FIGS = Path("reports/metrics"), Path("reports/nas"), Path("reports/figures")
OWN_FIGS = FIGS / "summary"  # this stage's figures (the distill stages own reports/figures/<dataset>/)


def _load(path: Path) -> dict | None:
    return read_json(path) if path.is_file() else None


def collect(dataset: str) -> dict:
    d = METRICS / dataset
    runs = [m for p in sorted(d.glob("*_ipc*_*.json")) if not p.name.startswith("random_") and (m := _load(p))]
    randoms = {m["ipc"]: m for p in sorted(d.glob("random_ipc*.json")) if (m := _load(p))}
    return {"baseline": _load(d / "baseline.json"), "runs": runs, "random": randoms,
            "nas": _load(NAS / f"{dataset}_compare.json")}


def acc_vs_ipc_figure(dataset: str, data: dict, path: Path) -> None:
    from src.figures import plt
    from src.references import PUBLISHED_MNIST, PUBLISHED_MNIST_FULL

    fig, ax = plt.subplots(figsize=(6, 4))
    series: dict[str, list] = {}
    for m in data["runs"]:
        series.setdefault(f"{m['method']} ({m['init']} init)", []).append((m["ipc"], m["acc_mean"], m["acc_std"]))
    for label, pts in sorted(series.items()):
        pts.sort()
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], marker="o", capsize=3, label=label)
    if data["random"]:
        pts = sorted((k, v["acc_mean"], v["acc_std"]) for k, v in data["random"].items())
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], marker="s", ls="--", color="gray",
                    capsize=3, label="random real subset (this pipeline)")
    if dataset == "mnist":
        for (name, vals), mk in zip(PUBLISHED_MNIST.items(), "^vD"):
            ax.scatter(list(vals), list(vals.values()), marker=mk, s=30, alpha=0.6, label=f"{name}, published")
        ax.axhline(PUBLISHED_MNIST_FULL[1], color="k", lw=0.8, ls=":", label=f"{PUBLISHED_MNIST_FULL[0]}, published")
    if data["baseline"]:
        ax.axhline(data["baseline"]["test_acc"], color="green", lw=0.8, ls="-.",
                   label=f"full data, {data['baseline']['model']} (this pipeline)")
    ax.set_xscale("log")
    ax.set_xlabel("images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: accuracy of networks trained on the distilled set", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def full_vs_distilled_figure(dataset: str, data: dict, path: Path) -> None:
    from src.figures import plt

    b = data["baseline"]
    rows = [("full data", b["test_acc"], b["train_seconds"])] if b else []
    rows += [(f"{m['method']} ipc{m['ipc']} {m['init']}", m["acc_mean"], m["seconds"] / max(1, m["n_models"]))
             for m in sorted(data["runs"], key=lambda m: (m["ipc"], m["init"]))]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [r[0] for r in rows]
    a1.barh(names, [r[1] for r in rows], color="tab:blue")
    a1.set_xlabel("test accuracy (%)")
    a1.set_xlim(min([r[1] for r in rows] + [90]) - 5, 100)
    a2.barh(names, [r[2] for r in rows], color="tab:orange")
    a2.set_xscale("log")
    a2.set_xlabel("training wall time per network (s, log)")
    fig.suptitle(f"{dataset}: full-data training vs training on distilled sets (timed in code)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _where(metrics: dict) -> str:
    """The device a metrics file names, with torch's thread count where it recorded one (CPU sums
    depend on it, so the same seed reproduces a number only at the same count)."""
    threads = metrics.get("torch_threads")
    return metrics.get("device", "?") + (f", {threads} torch threads" if threads else "")


def summary_markdown(datasets: dict[str, dict], figures: dict[str, list[str]]) -> str:
    devices = sorted({_where(m) for d in datasets.values() for m in d["runs"] + list(d["random"].values())
                      + ([d["baseline"]] if d["baseline"] else [])})
    presets = sorted({m.get("preset", "?") for d in datasets.values() for m in d["runs"] + ([d["baseline"]] if d["baseline"] else [])})
    lines = ["# Dataset distillation: results", "",
             f"Produced by the DVC pipeline with preset **{', '.join(presets)}** on device **{', '.join(devices)}** "
             f"(report written on {platform.machine()} / {platform.system()}). Every number below is read from "
             "a metrics file under `reports/`; accuracies are the final iterate of freshly trained networks, "
             "mean ± std over the evaluation models, tested once on the real test split.", ""]
    for ds, d in datasets.items():
        lines += [f"## {ds.upper()}", ""]
        if d["baseline"]:
            b = d["baseline"]
            lines += [f"Full-data upper bound: **{b['test_acc']:.2f} %** ({b['model']}, {b['epochs']} epochs on "
                      f"{b['train_images']} images, {b['train_seconds']:.0f} s, {b['macs_per_image'] / 1e6:.1f} M MACs/image; "
                      f"`reports/metrics/{ds}/baseline.json`).", ""]
        if d["runs"]:
            mh = ds == "mhist"
            head = "| method | ipc | init | accuracy (%) | random real (%) | gain |" + (" balanced acc. | AUC |" if mh else "")
            lines += [head, "|---|---|---|---|---|---|" + ("---|---|" if mh else "")]
            for m in sorted(d["runs"], key=lambda m: (m["method"], m["ipc"], m["init"])):
                row = (f"| {m['method']} | {m['ipc']} | {m['init']} | {m['acc_mean']:.2f} ± {m['acc_std']:.2f} | "
                       f"{m['random_acc_mean']:.2f} ± {m['random_acc_std']:.2f} | {m['gain_over_random']:+.2f} |")
                if mh:
                    row += f" {m.get('balanced_acc', float('nan')):.2f} | {m.get('auc', float('nan')):.3f} |"
                lines.append(row)
            lines.append("")
            cross = [(m, k, v) for m in d["runs"] for k, v in m.get("cross", {}).items()]
            if cross:
                lines += ["Cross-architecture (networks of another architecture trained on the same distilled set):", "",
                          "| set | architecture | accuracy (%) |", "|---|---|---|"]
                lines += [f"| {m['method']} ipc{m['ipc']} {m['init']} | {v['model']} | {v['acc_mean']:.2f} ± {v['acc_std']:.2f} |"
                          for m, k, v in cross]
                lines.append("")
            else:
                lines += ["Cross-architecture: not evaluated in this profile (`evaluate.<dataset>.cross_models` is empty).", ""]
        for f in figures.get(ds, []):
            lines += [f"![{Path(f).stem}]({Path(f).relative_to('reports')})", ""]
        starts = sorted((FIGS / ds).glob("*_start.png"))
        if starts:
            lines += ["Distilled images (start → end):", ""]
            for s in starts:
                e = s.with_name(s.name.replace("_start", "_end"))
                lines.append(f"- `{s.stem[:-6]}`: [start]({s.relative_to('reports')}) → [end]({e.relative_to('reports')})")
            lines.append("")
        n = d["nas"]
        if n:
            lines += ["### Architecture search on a distilled proxy", "",
                      "| proxy | data | Spearman ρ | Kendall τ | ρ top-5 | top-5 overlap | top-1 regret (pts) "
                      "| search time (s) | speedup vs full |",
                      "|---|---|---|---|---|---|---|---|---|",
                      f"| full | training split | 1 | 1 | 1 | 5 | 0 | {n['full_search_seconds']:.0f} | 1.0× |"]
            for proxy in ("synthetic", "random"):
                if proxy in n:
                    s = n[proxy]
                    lines.append(f"| {proxy} | {s['data']} | {s['spearman']:.3f} | {s['kendall']:.3f} | "
                                 f"{s.get('spearman_top5', float('nan')):.3f} | {s.get('top5_overlap', 'n/a')} | "
                                 f"{s['top1_regret']:.2f} | {s['search_seconds']:.0f} | {s['speedup']:.1f}× |")
            lines += ["", f"![NAS scatter](nas/{ds}_scatter.png)", ""]
            curves = {p: n[p]["budget_curve"] for p in ("synthetic", "random") if len(n.get(p, {}).get("budget_curve", [])) > 1}
            if "full_budget_curve" in n:
                curves["full, fewer epochs"] = n["full_budget_curve"]
            if curves:
                lines += ["The same ranking if each proxy's training had stopped at an earlier validation checkpoint "
                          "(budget curve; checkpoints before the last score on a subset of the validation split):", "",
                          "| proxy | epoch | Spearman ρ | top-1 regret (pts) | speedup vs full |", "|---|---|---|---|---|"]
                lines += [f"| {p} | {c['epoch']} | {c['spearman']:.3f} | {c['top1_regret']:.2f} | {c['speedup']:.1f}× |"
                          for p, curve in curves.items() for c in curve]
                lines += ["", f"![NAS budget curve](nas/{ds}_budget.png)", ""]
    return "\n".join(lines) + "\n"


def build_report(datasets: list[str] | None = None) -> Path:
    from src.config import load_params
    from src.data.fsutil import atomic_file

    datasets = datasets or list(load_params().datasets)
    OWN_FIGS.mkdir(parents=True, exist_ok=True)
    data, figures = {}, {}
    for ds in datasets:
        data[ds] = collect(ds)
        figures[ds] = []
        if data[ds]["runs"] or data[ds]["random"]:
            p = OWN_FIGS / f"{ds}_acc_vs_ipc.png"
            acc_vs_ipc_figure(ds, data[ds], p)
            figures[ds].append(str(p))
        if data[ds]["baseline"] and data[ds]["runs"]:
            p = OWN_FIGS / f"{ds}_full_vs_distilled.png"
            full_vs_distilled_figure(ds, data[ds], p)
            figures[ds].append(str(p))
    out = Path("reports/summary.md")
    with atomic_file(out) as tmp:
        tmp.write_text(summary_markdown(data, figures))
    say(f"report: {out} and {sum(len(v) for v in figures.values())} figures in {OWN_FIGS}")
    return out


@app.command()
@cli_errors
def main() -> None:
    """Write reports/summary.md and its figures from the metrics files."""
    build_report()


if __name__ == "__main__":
    app()
