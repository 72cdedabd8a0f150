"""Stage `nas-compare@<dataset>`: how well each proxy's ranking matches full data's.

    python -m src.nas.compare --dataset mnist

Reads reports/nas/<dataset>_{full,synthetic,random}.json and writes reports/nas/<dataset>_compare.json:
Spearman rho and Kendall tau over all architectures and over the full-data top 5 and top 10,
top-1 regret (full-data validation accuracy of the best architecture minus that of the proxy's
pick, in points, >= 0), top-5 overlap, search time and speedup over `full`; plus a scatter figure.

The budget curve (`budget_curve` per proxy, figure <dataset>_budget.png) asks the same question at
every validation checkpoint of the proxy's training, as if the budget had stopped there: the
ranking by the checkpoint's accuracy against full data's final ranking, and the speedup from the
seconds spent until then. The checkpoints before the last score on `nas.<ds>.curve_images`
validation images, the last on the whole split. `full` has a curve too when it trains more than
one epoch: fewer full-data epochs are the proxy any distilled set has to beat.
"""

from __future__ import annotations

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def budget_curve(f_scores: dict[str, float], res: dict, full_seconds: float) -> list[dict]:
    """Ranking statistics and speedup at every checkpoint that all of the proxy's architectures reached."""
    from src.nas.ranking import compare

    curves = {k: {p["epoch"]: p for p in v.get("curve", [])} for k, v in res["results"].items()}
    epochs = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
    out = []
    for e in epochs:
        stats = compare(f_scores, {k: c[e]["val_mean"] for k, c in curves.items()})
        seconds = sum(c[e]["seconds"] for c in curves.values())
        out.append({"epoch": e, "images": min(c[e]["images"] for c in curves.values()), "seconds": seconds,
                    "speedup": full_seconds / max(seconds, 1e-9),
                    **{k: stats[k] for k in ("spearman", "kendall", "top1_regret", "top5_overlap") if k in stats}})
    return out


def budget_figure(dataset: str, curves: dict[str, list[dict]], path):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from src.figures import plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for proxy, curve in curves.items():
        xs = [c["speedup"] for c in curve]
        a1.plot(xs, [c["spearman"] for c in curve], "o-", label=proxy)
        a2.plot(xs, [c["top1_regret"] for c in curve], "o-", label=proxy)
        for c in curve:
            for ax, y in ((a1, c["spearman"]), (a2, c["top1_regret"])):
                ax.annotate(str(c["epoch"]), (c["speedup"], y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for ax, label in ((a1, "Spearman ρ vs full data's ranking"), (a2, "top-1 regret (points)")):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("speedup over full data (labels: proxy epochs trained)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{dataset}: proxy ranking quality against search budget", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig


def compare_proxies(dataset: str) -> dict:
    from src import tracking
    from src.data.fsutil import read_json, write_json
    from src.errors import UserError
    from src.figures import plt
    from src.nas import NAS_DIR
    from src.nas.ranking import compare

    def read(proxy: str) -> dict | None:
        p = NAS_DIR / f"{dataset}_{proxy}.json"
        if not p.is_file():
            return None
        res = read_json(p)
        if res.get("missing"):  # a ranking over part of the grid would be silently a different study
            shown = ", ".join(res["missing"][:3]) + (", ..." if len(res["missing"]) > 3 else "")
            raise UserError(f"{p}: {len(res['missing'])} of {res['grid_size']} architectures not scored ({shown}); "
                            f"finish the study: python -m src.nas --proxy {proxy} --dataset {dataset}")
        return res

    full = read("full")
    if full is None:
        raise UserError(f"{NAS_DIR / f'{dataset}_full.json'}: missing; run `python -m src.nas --proxy full` first")
    f_scores = {k: v["val_mean"] for k, v in full["results"].items()}
    out = {"dataset": dataset, "full_search_seconds": full["search_seconds"], "full_best": full["best"],
           "full_final_test_acc": full.get("final_test_acc")}
    proxies = {p: r for p in ("synthetic", "random") if (r := read(p)) is not None}
    # each study is named by the scoring code's hash: differing hashes mean rankings by different code
    out["code"] = {p: r.get("code") for p, r in {"full": full, **proxies}.items()}
    if len({c for c in out["code"].values() if c is not None}) > 1:
        say(f"nas-compare {dataset}: warning: the studies were scored by different code "
            f"({', '.join(f'{p} {c}' for p, c in out['code'].items())}); rerun them at one commit to compare like with like")
    fig, axes = plt.subplots(1, max(1, len(proxies)), figsize=(5 * max(1, len(proxies)), 4), squeeze=False)
    with tracking.run("nas-compare", f"nas-compare-{dataset}", {"dataset": dataset, "proxies": list(proxies)},
                      inputs=[NAS_DIR / f"{dataset}_{p}.json" for p in ("full", *proxies)]) as log:
        for ax, (proxy, res) in zip(axes[0], proxies.items()):
            p_scores = {k: v["val_mean"] for k, v in res["results"].items()}
            stats = compare(f_scores, p_scores)
            stats.update(data=res["data"], search_seconds=res["search_seconds"],
                         speedup=full["search_seconds"] / max(res["search_seconds"], 1e-9),
                         final_test_acc=res.get("final_test_acc"))
            stats["budget_curve"] = budget_curve(f_scores, res, full["search_seconds"])
            out[proxy] = stats
            for c in stats["budget_curve"]:
                log.metrics({f"{proxy}_budget_spearman": c["spearman"], f"{proxy}_budget_regret": c["top1_regret"],
                             f"{proxy}_budget_speedup": c["speedup"]}, step=c["epoch"])
            keys = sorted(set(f_scores) & set(p_scores))
            ax.scatter([p_scores[k] for k in keys], [f_scores[k] for k in keys], s=18)
            ax.set_xlabel(f"{proxy} proxy ({res['data']}) val. accuracy (%)")
            ax.set_ylabel("full-data val. accuracy (%)")
            ax.set_title(f"{dataset} {proxy}: Spearman ρ={stats['spearman']:.2f}, Kendall τ={stats['kendall']:.2f}", fontsize=9)
            log.metrics({f"{proxy}_{k}": v for k, v in stats.items() if isinstance(v, (int, float)) and v is not None})
        fig.tight_layout()
        fig_path = NAS_DIR / f"{dataset}_scatter.png"
        fig.savefig(fig_path, dpi=100)
        log.figure(fig, fig_path.name)
        plt.close(fig)
        curves = {p: out[p]["budget_curve"] for p in proxies}
        if len(full_curve := budget_curve(f_scores, full, full["search_seconds"])) > 1:
            out["full_budget_curve"] = curves["full, fewer epochs"] = full_curve
        budget_path = NAS_DIR / f"{dataset}_budget.png"
        fig = budget_figure(dataset, curves, budget_path)
        log.figure(fig, budget_path.name)
        plt.close(fig)
        path = NAS_DIR / f"{dataset}_compare.json"
        write_json(path, out)
        log.artifact(path)
    for proxy in proxies:
        s = out[proxy]
        say(f"nas-compare {dataset}/{proxy}: rho {s['spearman']:.3f}, tau {s['kendall']:.3f}, regret "
            f"{s['top1_regret']:.2f} pts, top-5 overlap {s.get('top5_overlap', 'n/a')}, speedup {s['speedup']:.1f}x")
        for c in s["budget_curve"][:-1]:
            say(f"  at epoch {c['epoch']}: rho {c['spearman']:.3f}, regret {c['top1_regret']:.2f} pts, speedup {c['speedup']:.1f}x")
    say(f"  -> {path}, {fig_path}, {budget_path}")
    return out


@app.command()
@cli_errors
def main(dataset: str = typer.Option("mnist", help="mnist or mhist")) -> None:
    """Compare the proxies' rankings with full data's."""
    compare_proxies(dataset)


if __name__ == "__main__":
    app()
