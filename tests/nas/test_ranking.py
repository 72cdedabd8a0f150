import numpy as np
import pytest
from scipy import stats

from src.nas.ranking import compare, kendall_tau_b, ranks, spearman


@pytest.mark.parametrize("seed", range(5))
def test_rank_statistics_match_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 8, 30).astype(float)
    b = a + rng.normal(0, 2, 30).round()
    assert np.allclose(ranks(a), stats.rankdata(a))
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert kendall_tau_b(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)


def test_compare_on_known_rankings():
    full = {f"a{i}": float(i) for i in range(12)}
    same = {k: v * 2 + 1 for k, v in full.items()}
    rev = {k: -v for k, v in full.items()}
    s = compare(full, same)
    assert s["spearman"] == pytest.approx(1) and s["kendall"] == pytest.approx(1)
    assert s["top1_regret"] == 0 and s["top5_overlap"] == 5 and s["proxy_pick"] == "a11"
    r = compare(full, rev)
    assert r["spearman"] == pytest.approx(-1) and r["top1_regret"] == 11 and r["top5_overlap"] == 0
    assert r["spearman_top5"] == pytest.approx(-1)
