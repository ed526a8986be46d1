"""Releasing counts with differential privacy: the discrete Laplace mechanism (pure epsilon-DP,
Ghosh, Roughgarden and Sundararajan 2009) and the discrete Gaussian mechanism ((epsilon, delta)-DP
through rho-zCDP, Bun and Steinke 2016; Canonne, Kamath and Steinke 2020), with small-count
suppression as post-processing (it costs no privacy)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

from privacy.dp.samplers import _SYSTEM, discrete_gaussian, discrete_laplace

# Parameters become rationals with this denominator, rounded towards more noise.
_RESOLUTION = 2**20


@dataclass(frozen=True)
class Release:
    """One released value, with the noise it carries, stated so a reader can judge it."""

    value: int | None  # None: suppressed (the noisy count fell under the threshold)
    mechanism: str
    epsilon: float
    delta: float
    noise_scale: float  # Laplace: the scale b; Gaussian: the standard deviation sigma
    suppressed_below: int


def _rational_up(value: float) -> Fraction:
    return Fraction(math.ceil(value * _RESOLUTION), _RESOLUTION)


def laplace_scale(sensitivity: int, epsilon: float) -> Fraction:
    """b = sensitivity / epsilon, rounded up."""
    if epsilon <= 0 or sensitivity < 1:
        raise ValueError("epsilon must be positive and the sensitivity at least 1")
    return _rational_up(sensitivity / epsilon)


def gaussian_variance(sensitivity: int, epsilon: float, delta: float) -> Fraction:
    """sigma^2 for (epsilon, delta)-DP: the discrete Gaussian is rho-zCDP with
    rho = sensitivity^2 / (2 sigma^2), and rho-zCDP implies (rho + 2 sqrt(rho ln(1/delta)),
    delta)-DP; solve for the largest rho within epsilon."""
    if epsilon <= 0 or not 0 < delta < 1 or sensitivity < 1:
        raise ValueError("epsilon must be positive, delta in (0, 1), the sensitivity >= 1")
    log = math.log(1 / delta)
    rho = (math.sqrt(log + epsilon) - math.sqrt(log)) ** 2
    return _rational_up(sensitivity**2 / (2 * rho))


def noise_parameter(sensitivity: int, epsilon: float, delta: float) -> Fraction:
    """The Laplace scale (delta = 0) or the Gaussian variance ``release_count`` will use, or
    ValueError where the parameters give none (not positive, or so small that the scale is
    not a finite number): a caller checks this before it spends any budget."""
    try:
        if delta == 0:
            return laplace_scale(sensitivity, epsilon)
        return gaussian_variance(sensitivity, epsilon, delta)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ValueError(f"no finite noise scale at epsilon {epsilon!r}, delta {delta!r}") \
            from exc


def release_count(count: int, epsilon: float, delta: float = 0.0, sensitivity: int = 1,
                  suppress_below: int = 0, rng: random.Random = _SYSTEM) -> Release:
    """The count plus discrete Laplace noise (delta = 0) or discrete Gaussian noise; a noisy
    count under ``suppress_below`` is withheld."""
    if delta == 0:
        scale = laplace_scale(sensitivity, epsilon)
        noisy = count + discrete_laplace(scale, rng)
        mechanism, spread = "discrete_laplace", float(scale)
    else:
        variance = gaussian_variance(sensitivity, epsilon, delta)
        noisy = count + discrete_gaussian(variance, rng)
        mechanism, spread = "discrete_gaussian", math.sqrt(variance)
    value = max(0, noisy)
    return Release(None if value < suppress_below else value, mechanism, epsilon, delta,
                   spread, suppress_below)
