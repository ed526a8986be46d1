"""Exact samplers for the discrete Laplace and discrete Gaussian distributions.

Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
Algorithms 1-3: rational arithmetic and uniform integers from the operating system's CSPRNG only,
so no floating-point artefact can separate neighbouring datasets (Mironov, "On Significance of the
Least Significant Bits for Differential Privacy", CCS 2012).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

_SYSTEM = random.SystemRandom()


def bernoulli(p: Fraction, rng: random.Random = _SYSTEM) -> bool:
    """True with probability ``p`` (0 <= p <= 1)."""
    return rng.randrange(p.denominator) < p.numerator


def bernoulli_exp(gamma: Fraction, rng: random.Random = _SYSTEM) -> bool:
    """True with probability exp(-gamma), gamma >= 0 (CKS20 Algorithm 1)."""
    while gamma > 1:
        if not bernoulli_exp(Fraction(1), rng):
            return False
        gamma -= 1
    k = 1
    while bernoulli(gamma / k, rng):
        k += 1
    return k % 2 == 1


def _geometric_exp(x: Fraction, rng: random.Random) -> int:
    """Geometric: P[k] proportional to exp(-x k), k >= 0 (CKS20 Algorithm 2, fast form)."""
    s, t = x.numerator, x.denominator
    while True:
        u = rng.randrange(t)
        if bernoulli_exp(Fraction(u, t), rng):
            break
    v = 0
    while bernoulli_exp(Fraction(1), rng):
        v += 1
    return (v * t + u) // s


def discrete_laplace(scale: Fraction, rng: random.Random = _SYSTEM) -> int:
    """P[x] proportional to exp(-|x| / scale) over the integers."""
    if scale <= 0:
        raise ValueError("the scale must be positive")
    while True:
        negative = bernoulli(Fraction(1, 2), rng)
        magnitude = _geometric_exp(1 / scale, rng)
        if negative and magnitude == 0:
            continue
        return -magnitude if negative else magnitude


def discrete_gaussian(sigma2: Fraction, rng: random.Random = _SYSTEM) -> int:
    """P[x] proportional to exp(-x^2 / (2 sigma2)) over the integers (CKS20 Algorithm 3)."""
    if sigma2 <= 0:
        raise ValueError("the variance must be positive")
    t = math.isqrt(math.floor(sigma2)) + 1
    while True:
        candidate = discrete_laplace(Fraction(t), rng)
        bias = (abs(candidate) - sigma2 / t) ** 2 / (2 * sigma2)
        if bernoulli_exp(bias, rng):
            return candidate
