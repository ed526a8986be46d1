"""Scripted behaviours with known labels, for training and measuring the unusual-behaviour model.

The scripted city has station corridors where the flow runs left to right (the cameras are
mounted that way). What is normal there: commuters walking through, strollers who may stop for a
moment, people waiting for someone (standing 5-15 s, then walking on), and people crossing the
corridor to a side door. What is unusual: running, walking against the flow, and loitering
(wandering about one spot, back and forth, with stops).

Each site sees its own mix of the normal behaviours (non-IID, as real sites do): the platform
exit mostly commuters, the waiting hall people waiting, the side-door corridor people crossing.
A behaviour is an ``Actor`` of the scripted scenes (keyframed foot positions), so it can be
rendered and tracked for real, or sampled directly as the tracker would report it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nodes.analytics.config import CameraAnalytics
from privacy.learning.movement import SAMPLE_HZ
from simulation.scripted import Actor, Script, walk

NORMAL = ("commuter", "stroller", "waiter", "crosser")
UNUSUAL = ("running", "wrong_way", "loitering")
SITE_MIXES: tuple[Mapping[str, float], ...] = (
    {"commuter": 0.9, "stroller": 0.1},  # a platform exit
    {"waiter": 0.5, "stroller": 0.3, "commuter": 0.2},  # a waiting hall
    {"crosser": 0.5, "commuter": 0.4, "stroller": 0.1},  # a corridor with side doors
)
ASPECT = 16 / 9  # the scripted scenes' frames
TRACKER_NOISE = 0.004  # frame widths: foot-position jitter of the node's tracker (measured in
# tests/unit/test_trajectories.py on rendered scenes)


def behaviour(kind: str, rng: np.random.Generator, actor_id: int = 1, start: float = 0.0
              ) -> Actor:
    """One person doing ``kind`` (relative coordinates, as the scripted scenes use)."""
    lane = float(rng.uniform(0.65, 0.92))
    enter, leave = float(rng.uniform(-0.05, 0.15)), float(rng.uniform(0.85, 1.05))
    drift = float(np.clip(lane + rng.normal(0, 0.03), 0.6, 0.98))
    middle = float(rng.uniform(0.35, 0.65))
    if kind == "commuter":
        return walk(actor_id, start, [(enter, lane), (leave, drift)], rng.uniform(0.06, 0.12))
    if kind in ("stroller", "waiter"):
        slow = kind == "stroller"
        pause = (rng.uniform(1, 4) if rng.random() < 0.5 else 0.0) if slow \
            else rng.uniform(5, 15)
        points = [(enter, lane), (middle, float(np.clip(lane + rng.normal(0, 0.02), 0.6, 0.98))),
                  (leave, drift)]
        return walk(actor_id, start, points,
                    rng.uniform(0.03, 0.06) if slow else rng.uniform(0.05, 0.09),
                    pauses={1: float(pause)} if pause else None)
    if kind == "crosser":
        down = rng.random() < 0.5
        x = float(rng.uniform(0.2, 0.8))
        end_x = float(np.clip(x + rng.normal(0, 0.15), 0.02, 0.98))
        top, bottom = (0.6, 0.98)
        return walk(actor_id, start, [(x, top if down else bottom),
                                      (end_x, bottom if down else top)], rng.uniform(0.05, 0.1))
    if kind == "running":
        return walk(actor_id, start, [(enter, lane), (leave, drift)], rng.uniform(0.18, 0.35))
    if kind == "wrong_way":
        return walk(actor_id, start, [(leave, lane), (enter, drift)], rng.uniform(0.05, 0.1))
    if kind == "loitering":
        points, pauses = [(enter, lane), (middle, lane)], {}
        for index in range(int(rng.integers(4, 8))):
            points.append((float(np.clip(middle + rng.normal(0, 0.08), 0.05, 0.95)),
                           float(np.clip(lane + rng.normal(0, 0.05), 0.6, 0.98))))
            if rng.random() < 0.5:
                pauses[index + 2] = float(rng.uniform(1, 4))
        points.append((leave, lane))
        return walk(actor_id, start, points, rng.uniform(0.03, 0.06), pauses=pauses)
    raise ValueError(f"no behaviour {kind!r}; they are: {', '.join(NORMAL + UNUSUAL)}")


def site_behaviour(site: int, rng: np.random.Generator) -> str:
    mix = SITE_MIXES[site % len(SITE_MIXES)]
    kinds = sorted(mix)
    weights = np.array([mix[k] for k in kinds])
    return kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]


def sampled(actor: Actor, rng: np.random.Generator, noise: float = TRACKER_NOISE) -> np.ndarray:
    """The actor's trajectory as the node records it: its foot every 1/SAMPLE_HZ seconds, in
    frame widths, with the tracker's jitter."""
    first, last = actor.path[0][0], actor.path[-1][0]
    rows = []
    for t in np.arange(first, last + 1e-9, 1 / SAMPLE_HZ):
        foot = actor.foot(float(t))
        if foot is not None:
            rows.append((float(t - first), foot[0] + rng.normal(0, noise),
                         foot[1] / ASPECT + rng.normal(0, noise)))
    return np.asarray(rows, dtype=np.float64)


def site_trajectories(site: int, count: int, seed: int, unusual_fraction: float = 0.0
                      ) -> list[np.ndarray]:
    """``count`` trajectories recorded at ``site``; a fraction of them unusual and unlabelled,
    as real recordings are."""
    rng = np.random.default_rng([seed, site])
    found = []
    for _ in range(count):
        kind = (UNUSUAL[int(rng.integers(len(UNUSUAL)))] if rng.random() < unusual_fraction
                else site_behaviour(site, rng))
        found.append(sampled(behaviour(kind, rng), rng))
    return found


def labelled(kinds: tuple[str, ...], count: int, seed: int) -> dict[str, list[np.ndarray]]:
    """``count`` trajectories of each of ``kinds``, for held-out tests."""
    rng = np.random.default_rng([seed, 7919])
    return {kind: [sampled(behaviour(kind, rng), rng) for _ in range(count)] for kind in kinds}


def scene(kinds: tuple[str, ...], analytics: CameraAnalytics, seed: int = 0,
          gap: float = 4.0) -> Script:
    """A corridor scene with one person per kind, each entering ``gap`` seconds after the last,
    to be rendered and tracked; actor ids follow ``kinds`` from 1."""
    rng = np.random.default_rng([seed, 104729])
    actors = tuple(behaviour(kind, rng, index + 1, index * gap)
                   for index, kind in enumerate(kinds))
    seconds = max(a.path[-1][0] for a in actors) + 1.0
    return Script("corridor", float(seconds), actors, analytics, (), seed=seed)
