"""Stage `nas-compare@<dataset>`: how well each proxy's ranking matches full data's.

    python -m src.nas.compare --dataset mnist

Reads reports/nas/<dataset>_{full,synthetic,random}.json and writes reports/nas/<dataset>_compare.json:
Spearman rho and Kendall tau over all architectures and over the full-data top 5 and top 10,
top-1 regret (full-data validation accuracy of the best architecture minus that of the proxy's
pick, in points, >= 0), top-5 overlap, search time and speedup over `full`; plus a scatter figure.
"""

from __future__ import annotations

import json

import typer

from src.ui import cli_errors, say

app = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def compare_proxies(dataset: str) -> dict:
    from src import tracking
    from src.data.fsutil import write_json
    from src.errors import UserError
    from src.figures import plt
    from src.nas import NAS_DIR
    from src.nas.ranking import compare

    def read(proxy: str) -> dict | None:
        p = NAS_DIR / f"{dataset}_{proxy}.json"
        return json.loads(p.read_text()) if p.is_file() else None

    full = read("full")
    if full is None:
        raise UserError(f"{NAS_DIR / f'{dataset}_full.json'}: missing; run `python -m src.nas --proxy full` first")
    f_scores = {k: v["val_mean"] for k, v in full["results"].items()}
    out = {"dataset": dataset, "full_search_seconds": full["search_seconds"], "full_best": full["best"],
           "full_final_test_acc": full.get("final_test_acc")}
    proxies = {p: r for p in ("synthetic", "random") if (r := read(p)) is not None}
    fig, axes = plt.subplots(1, max(1, len(proxies)), figsize=(5 * max(1, len(proxies)), 4), squeeze=False)
    with tracking.run("nas-compare", f"nas-compare-{dataset}", {"dataset": dataset, "proxies": list(proxies)},
                      inputs=[NAS_DIR / f"{dataset}_{p}.json" for p in ("full", *proxies)]) as log:
        for ax, (proxy, res) in zip(axes[0], proxies.items()):
            p_scores = {k: v["val_mean"] for k, v in res["results"].items()}
            stats = compare(f_scores, p_scores)
            stats.update(data=res["data"], search_seconds=res["search_seconds"],
                         speedup=full["search_seconds"] / max(res["search_seconds"], 1e-9),
                         final_test_acc=res.get("final_test_acc"))
            out[proxy] = stats
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
        path = NAS_DIR / f"{dataset}_compare.json"
        write_json(path, out)
        log.artifact(path)
    for proxy in proxies:
        s = out[proxy]
        say(f"nas-compare {dataset}/{proxy}: rho {s['spearman']:.3f}, tau {s['kendall']:.3f}, regret "
            f"{s['top1_regret']:.2f} pts, top-5 overlap {s.get('top5_overlap', 'n/a')}, speedup {s['speedup']:.1f}x")
    say(f"  -> {path}, {fig_path}")
    return out


@app.command()
@cli_errors
def main(dataset: str = typer.Option("mnist", help="mnist or mhist")) -> None:
    """Compare the proxies' rankings with full data's."""
    compare_proxies(dataset)


if __name__ == "__main__":
    app()
