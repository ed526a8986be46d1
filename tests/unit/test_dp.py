"""Differential privacy: the samplers draw the distributions they claim (statistical tests with
fixed seeds), released counts carry the stated noise, and the budget ledger refuses overspending."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from scipy import stats

from nodes.privacy_ledger import PrivacyLedger
from privacy.dp.accounting import Budget, BudgetExceeded, BudgetPolicy
from privacy.dp.mechanisms import gaussian_variance, laplace_scale, release_count
from privacy.dp.samplers import bernoulli_exp, discrete_gaussian, discrete_laplace

N = 20_000


def laplace_pmf(x: int, scale: float) -> float:
    q = math.exp(-1 / scale)
    return (1 - q) / (1 + q) * q ** abs(x)


def gaussian_pmf(x: int, sigma2: float) -> float:
    norm = sum(math.exp(-k * k / (2 * sigma2)) for k in range(-200, 201))
    return math.exp(-x * x / (2 * sigma2)) / norm


def chi_square_p(samples: list[int], pmf, width: int) -> float:  # type: ignore[no-untyped-def]
    counts = Counter(max(-width, min(width, s)) for s in samples)
    expected = [pmf(x) for x in range(-width + 1, width)]
    tail = (1 - sum(expected)) / 2
    expected = [tail, *expected, tail]
    observed = [counts.get(x, 0) for x in range(-width, width + 1)]
    return float(stats.chisquare(observed, [e * len(samples) for e in expected]).pvalue)


def test_bernoulli_exp_matches_exp_minus_gamma() -> None:
    rng = random.Random(1)
    for gamma in (Fraction(1, 3), Fraction(5, 2)):
        hits = sum(bernoulli_exp(gamma, rng) for _ in range(N))
        p = math.exp(-float(gamma))
        assert abs(hits / N - p) < 4 * math.sqrt(p * (1 - p) / N)


@pytest.mark.parametrize("scale", [Fraction(1, 2), Fraction(3), Fraction(20)])
def test_discrete_laplace_has_the_stated_distribution(scale: Fraction) -> None:
    samples = [discrete_laplace(scale, random.Random(7 + i)) for i in range(N)]
    q = math.exp(-1 / float(scale))
    variance = 2 * q / (1 - q) ** 2
    assert abs(sum(samples) / N) < 5 * math.sqrt(variance / N)
    sample_variance = sum(s * s for s in samples) / N
    assert abs(sample_variance / variance - 1) < 0.08
    assert chi_square_p(samples, lambda x: laplace_pmf(x, float(scale)),
                        max(3, int(3 * float(scale)))) > 1e-3


@pytest.mark.parametrize("sigma2", [Fraction(1), Fraction(49, 2)])
def test_discrete_gaussian_has_the_stated_distribution(sigma2: Fraction) -> None:
    rng = random.Random(11)
    samples = [discrete_gaussian(sigma2, rng) for _ in range(N)]
    sample_variance = sum(s * s for s in samples) / N
    assert abs(sample_variance / float(sigma2) - 1) < 0.08
    assert chi_square_p(samples, lambda x: gaussian_pmf(x, float(sigma2)),
                        max(3, int(3 * math.sqrt(sigma2)))) > 1e-3


def test_gaussian_calibration_meets_epsilon_delta() -> None:
    for epsilon, delta in ((0.5, 1e-5), (1.0, 1e-6), (3.0, 1e-5)):
        variance = float(gaussian_variance(1, epsilon, delta))
        rho = 1 / (2 * variance)
        assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) <= epsilon + 1e-9
    assert gaussian_variance(1, 0.5, 1e-5) > gaussian_variance(1, 1.0, 1e-5)
    assert laplace_scale(1, 0.5) == 2 and laplace_scale(2, 0.5) == 4


def test_released_counts_err_as_the_stated_noise_scale() -> None:
    rng = random.Random(3)
    true = 500
    releases = [release_count(true, epsilon=0.5, rng=rng) for _ in range(5000)]
    scale = releases[0].noise_scale
    assert releases[0].mechanism == "discrete_laplace" and scale == 2.0
    errors = [r.value - true for r in releases]  # type: ignore[operator]
    q = math.exp(-1 / scale)
    assert abs(sum(e * e for e in errors) / len(errors) / (2 * q / (1 - q) ** 2) - 1) < 0.1
    gaussian = [release_count(true, 1.0, 1e-5, rng=rng) for _ in range(3000)]
    sigma = gaussian[0].noise_scale
    spread = math.sqrt(sum((r.value - true) ** 2 for r in gaussian) / len(gaussian))  # type: ignore[operator]
    assert gaussian[0].mechanism == "discrete_gaussian" and abs(spread / sigma - 1) < 0.1


def test_small_counts_are_suppressed_after_noise() -> None:
    rng = random.Random(5)
    small = [release_count(2, 1.0, suppress_below=10, rng=rng) for _ in range(200)]
    assert sum(r.value is None for r in small) > 190
    large = release_count(1000, 1.0, suppress_below=10, rng=rng)
    assert large.value is not None and abs(large.value - 1000) < 40


ONE = BudgetPolicy(Budget(1.0, 1e-5), Budget(1.0, 1e-5))

def test_the_ledger_refuses_the_release_that_would_exceed_the_budget(tmp_path: Path) -> None:
    ledger = PrivacyLedger(tmp_path / "privacy.sqlite", ONE, "site-a")
    assert ledger.spend(0.5, 0, "counts per zone per hour").period_spent.epsilon == 0.5
    assert ledger.spend(0.4, 5e-6, "dwell distribution").lifetime_spent.delta == 5e-6
    with pytest.raises(BudgetExceeded, match=r"needs epsilon 0.2.*0.1 and 5e-06 are left"):
        ledger.spend(0.2, 0, "one more")
    ledger.close()
    reopened = PrivacyLedger(tmp_path / "privacy.sqlite", ONE, "site-a")
    assert reopened.spent() == Budget(0.9, 5e-6)  # persisted; the refused release left no trace
    with pytest.raises(BudgetExceeded):
        reopened.spend(0.05, 1e-5, "too much delta")
    reopened.close()


def test_concurrent_releases_never_overspend(tmp_path: Path) -> None:
    ledgers = [PrivacyLedger(tmp_path / "p.sqlite",
                             BudgetPolicy(Budget(1.0, 0.0), Budget(1.0, 0.0)), "site-a")
               for _ in range(2)]  # two handles, as two processes would have
    granted = []

    def spend(ledger: PrivacyLedger) -> None:
        for _ in range(20):
            try:
                ledger.spend(0.1, 0.0, "race")
                granted.append(1)
            except BudgetExceeded:
                pass

    threads = [threading.Thread(target=spend, args=(ledgers[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 10 and ledgers[0].spent().epsilon == pytest.approx(1.0)
    for ledger in ledgers:
        ledger.close()
