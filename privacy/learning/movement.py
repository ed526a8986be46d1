"""How a track moves, as numbers: the features of the unusual-behaviour model (pure numpy, no
torch, so the nodes' cameras and the SecAgg+ messages that need no training stay light).

A trajectory is the foot position of one track sampled at ``SAMPLE_HZ``: rows of (seconds since
the track began, x, y), both coordinates in frame widths, so a speed is frame widths per second
whatever the frame's shape. Only how it moves becomes a feature (speed, heading, straightness,
stops, turns), never where in the frame it is or when: a model learns behaviour, not places or
routines. Features are centred and scaled by fixed constants (set from walking speeds and the
scripted city's corridors), the same at every site, so no statistics of any site's data are
needed to train or to score.
"""

from __future__ import annotations

import math

import numpy as np

from kernel.errors import ConfigError

SAMPLE_HZ = 2.0
MIN_SECONDS = 2.0  # shorter tracks say too little about behaviour to be kept or scored
LIVE_FIRST, LIVE_EVERY = 3.0, 1.0  # live scoring: from 3 s into a track, every second
STILL = 0.02  # frame widths per second: slower than this is standing still
NAMES = ("mean_speed", "fast_speed", "speed_spread", "heading_x", "heading_y", "straightness",
         "still_fraction", "spread", "turning", "backwards_fraction", "sharp_turns")
_CENTRE = np.array([0.073, 0.090, 0.014, 0.83, 0.01, 0.963, 0.064, 0.19, 0.41, 0.058, 0.21],
                   dtype=np.float32)
_SCALE = np.array([0.025, 0.023, 0.007, 0.42, 0.36, 0.052, 0.128, 0.065, 0.18, 0.21, 0.49],
                  dtype=np.float32)


def features(points: np.ndarray) -> np.ndarray:
    """The standardised features of one trajectory (rows: seconds, x, y in frame widths)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 2:
        raise ConfigError("a trajectory is at least two rows of (seconds, x, y)")
    t = points[:, 0] - points[0, 0]
    if np.any(np.diff(t) <= 0):
        raise ConfigError("a trajectory's times must increase")
    grid = np.arange(0.0, t[-1] + 1e-9, 1 / SAMPLE_HZ)
    if len(grid) < 2:
        grid = np.array([0.0, t[-1]])
    x, y = np.interp(grid, t, points[:, 1]), np.interp(grid, t, points[:, 2])
    dx, dy = np.diff(x), np.diff(y)
    dt = np.diff(grid)
    speed = np.hypot(dx, dy) / dt
    seconds = float(grid[-1])
    path = float(np.hypot(dx, dy).sum())
    net = math.hypot(x[-1] - x[0], y[-1] - y[0])
    confident = min(1.0, net / 0.05)  # a heading means little for someone who barely moved
    moving = speed > STILL
    heading = np.arctan2(dy, dx)
    both = moving[1:] & moving[:-1]
    turns = np.abs(np.angle(np.exp(1j * np.diff(heading))))[both] if len(heading) > 1 \
        else np.zeros(0)
    values = np.array([
        speed.mean(), np.percentile(speed, 90), speed.std(),
        (x[-1] - x[0]) / max(net, 1e-3) * confident, (y[-1] - y[0]) / max(net, 1e-3) * confident,
        net / max(path, 1e-3), 1.0 - moving.mean(),
        np.hypot(x - x.mean(), y - y.mean()).mean(),
        turns.sum() / max(seconds, 1.0),
        float((((dx / dt) < -STILL) & moving).mean()),
        float((turns > 1.0).sum()) / max(seconds / 10, 1.0),
    ], dtype=np.float32)
    return (values - _CENTRE) / _SCALE


def feature_matrix(trajectories: list[np.ndarray]) -> np.ndarray:
    if not trajectories:
        return np.zeros((0, len(NAMES)), dtype=np.float32)
    return np.stack([features(p) for p in trajectories]).astype(np.float32)


def prefixes(points: np.ndarray, first: float = LIVE_FIRST, every: float = LIVE_EVERY
             ) -> list[np.ndarray]:
    """The trajectory as live scoring sees it: from ``first`` seconds on, every ``every``
    seconds, and whole at its end."""
    points = np.asarray(points)
    seconds = float(points[-1, 0] - points[0, 0])
    cuts = [*np.arange(first, seconds, every), seconds]
    found = [points[points[:, 0] - points[0, 0] <= cut + 1e-9] for cut in cuts]
    return [p for p in found if len(p) >= 2]


def auroc(normal: np.ndarray, unusual: np.ndarray) -> float:
    """Area under the ROC curve: the chance that an unusual track scores above a normal one
    (Mann-Whitney U, ties counted half)."""
    if len(normal) == 0 or len(unusual) == 0:
        raise ValueError("AUROC needs both normal and unusual scores")
    above = (np.asarray(unusual)[:, None] > np.asarray(normal)[None, :]).sum()
    ties = (np.asarray(unusual)[:, None] == np.asarray(normal)[None, :]).sum()
    return float((above + 0.5 * ties) / (len(normal) * len(unusual)))
