"""Camera-to-camera hand-over inside a site (travel-time window and appearance), and tokens that
rotate and never join across sites."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pydantic import ValidationError

from nodes.analytics.stitching import CameraLink, Stitcher, appearance, token

LINKS = [CameraLink(source="gate", target="lobby", min_seconds=5, max_seconds=20)]


def person(colour: tuple[int, int, int], seed: int) -> np.ndarray:
    """An appearance histogram of a figure in ``colour`` with some texture noise."""
    rng = np.random.default_rng(seed)
    image = np.clip(np.array(colour, np.int16) + rng.integers(-12, 12, (80, 30, 3)), 0, 255)
    return appearance(image.astype(np.uint8), (0, 0, 30, 80))


RED, BLUE, GREEN = (30, 30, 200), (200, 40, 30), (40, 180, 40)


def test_hand_over_within_the_window_and_by_appearance() -> None:
    site = Stitcher(LINKS)
    red = site.track_started("gate", 1, 0.0, person(RED, 1))
    blue = site.track_started("gate", 2, 1.0, person(BLUE, 2))
    site.track_ended("gate", 1, 10.0, person(RED, 3))
    site.track_ended("gate", 2, 11.0, person(BLUE, 4))
    too_early = site.track_started("lobby", 7, 12.0, person(RED, 5))  # 2 s: faster than possible
    blue_again = site.track_started("lobby", 8, 19.0, person(BLUE, 6))
    red_again = site.track_started("lobby", 9, 22.0, person(RED, 7))
    stranger = site.track_started("lobby", 10, 23.0, person(GREEN, 8))
    assert blue_again == blue and red_again == red
    assert len({too_early, stranger, red, blue}) == 4
    late = Stitcher(LINKS)
    first = late.track_started("gate", 1, 0.0, person(RED, 1))
    late.track_ended("gate", 1, 10.0, person(RED, 2))
    assert late.track_started("lobby", 2, 40.0, person(RED, 3)) != first  # past max_seconds


def test_no_hand_over_against_the_graph() -> None:
    site = Stitcher(LINKS)
    first = site.track_started("lobby", 1, 0.0, person(RED, 1))
    site.track_ended("lobby", 1, 5.0, person(RED, 2))
    assert site.track_started("gate", 2, 12.0, person(RED, 3)) != first  # no lobby -> gate link


def test_tokens_rotate_and_differ_between_sites() -> None:
    site_a, site_b = os.urandom(32), os.urandom(32)
    assert token(site_a, 7, 100.0) == token(site_a, 7, 80_000.0)  # same day
    assert token(site_a, 7, 100.0) != token(site_a, 7, 90_000.0)  # next day
    assert token(site_a, 7, 100.0) != token(site_b, 7, 100.0)
    assert token(site_a, 7, 100.0) != token(site_a, 8, 100.0)


def test_links_validate_their_window() -> None:
    with pytest.raises(ValidationError, match="max_seconds"):
        CameraLink(source="a", target="b", min_seconds=10, max_seconds=5)


def test_the_node_config_refuses_links_to_unknown_cameras(tmp_path) -> None:
    from kernel.errors import ConfigError
    from nodes.config import load_settings

    config = tmp_path / "node.toml"
    config.write_text('[[cameras]]\nid = "gate"\nsource = "synthetic:"\n'
                      '[[camera_links]]\nsource = "gate"\ntarget = "car-park"\n'
                      'min_seconds = 5\nmax_seconds = 30\n')
    with pytest.raises(ConfigError, match=r"camera_links\.0\.target: no camera 'car-park'"):
        load_settings(config)
