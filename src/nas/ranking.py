"""Rank statistics for judging a proxy: how well its ranking of architectures matches full data's."""

from __future__ import annotations

import numpy as np


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b) -> float:
    """Pearson correlation of the ranks."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def kendall_tau_b(a, b) -> float:
    """Kendall's tau-b (accounts for ties), O(n^2): the grids here have tens of points."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    da, db = da[iu], db[iu]
    concordant_minus_discordant = (da * db).sum()
    n0 = len(da)
    ties_a, ties_b = (da == 0).sum(), (db == 0).sum()
    denom = np.sqrt((n0 - ties_a) * (n0 - ties_b))
    return float(concordant_minus_discordant / denom) if denom > 0 else float("nan")


def compare(full: dict[str, float], proxy: dict[str, float], top: tuple[int, ...] = (5, 10)) -> dict:
    """Proxy vs full-data scores over the common architectures (keys)."""
    keys = sorted(set(full) & set(proxy))
    f = np.array([full[k] for k in keys])
    p = np.array([proxy[k] for k in keys])
    out = {"n_archs": len(keys), "spearman": spearman(f, p), "kendall": kendall_tau_b(f, p)}
    by_full = [keys[i] for i in np.argsort(-f, kind="mergesort")]
    by_proxy = [keys[i] for i in np.argsort(-p, kind="mergesort")]
    for k in top:
        if len(keys) >= k:
            sub = by_full[:k]
            out[f"spearman_top{k}"] = spearman([full[s] for s in sub], [proxy[s] for s in sub])
            out[f"kendall_top{k}"] = kendall_tau_b([full[s] for s in sub], [proxy[s] for s in sub])
            out[f"top{k}_overlap"] = len(set(by_full[:k]) & set(by_proxy[:k]))
    out["proxy_pick"] = by_proxy[0]
    out["full_best"] = by_full[0]
    out["top1_regret"] = float(full[by_full[0]] - full[by_proxy[0]])
    return out
