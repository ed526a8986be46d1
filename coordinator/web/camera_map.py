"""The control room's schematic map: one box per site, its cameras listed in it with their
open incidents ("market-square (28 open)"), laid out here so that no label runs out of its box.

SVG text does not wrap or clip by itself (SVG 1.1, 10.4), and the server cannot measure the
browser's font, so each label is sized with a width per character above that of the page's
font (13 px sans-serif; its widest lower-case and digit glyphs are under 8 px, bold under 8.5
px): a box is as wide as its longest label needs, up to ``MAX_BOX``; a name longer than that is
shortened with an ellipsis, the count always kept, and the full name given as the mark's title
(shown on hover, read by screen readers) and in the map's description."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHAR, BOLD_CHAR = 8.0, 8.5  # px per character, over-estimated (see above)
MIN_BOX, MAX_BOX = 160, 360  # a site box's width, px
LABEL_X = 32  # where a camera's label starts in its box (after its dot)
PAD, GAP, ROW, TOP = 8, 20, 36, 10  # inner margin, space between boxes, row height, top


@dataclass(frozen=True)
class CameraMark:
    camera: str  # the full name
    site: str
    label: str  # as drawn: the name, shortened if need be, and its open incidents
    state: str  # alerting | active | withdrawn
    cx: float
    cy: float


@dataclass(frozen=True)
class SiteBox:
    name: str
    label: str
    x: float
    width: float
    height: float
    cameras: list[CameraMark]


@dataclass(frozen=True)
class CameraMap:
    width: float
    height: float
    sites: list[SiteBox]


def _fit(text: str, room: float, per_char: float, kept: str = "") -> str:
    """``text`` followed by ``kept``, the text shortened (ellipsis) so that both fit ``room``."""
    fits = int((room - per_char * len(kept)) // per_char)
    if len(text) <= fits:
        return text + kept
    return text[:max(1, fits - 1)] + "\u2026" + kept


def camera_label(camera: str, open_incidents: int) -> str:
    return f"{camera} ({open_incidents} open)"


def layout(cameras: Sequence[dict[str, Any]]) -> CameraMap:
    """Boxes side by side in site order, each camera a row; ``cameras`` as
    ``coordinator.web.control_room.camera_states`` gives them (site, camera, active, open)."""
    sites: list[SiteBox] = []
    x = float(GAP)
    for site in sorted({c["site"] for c in cameras}):
        mine = [c for c in cameras if c["site"] == site]
        need = max([BOLD_CHAR * len(site) + 2 * PAD]
                   + [LABEL_X + CHAR * len(camera_label(c["camera"], c["open"])) + PAD
                      for c in mine])
        width = min(float(MAX_BOX), max(float(MIN_BOX), need))
        room = width - LABEL_X - PAD
        marks = [CameraMark(
            camera=c["camera"], site=site,
            label=_fit(c["camera"], room, CHAR, f" ({c['open']} open)"),
            state="alerting" if c["open"] else "active" if c["active"] else "withdrawn",
            cx=x + 18, cy=TOP + 42 + ROW * n) for n, c in enumerate(mine)]
        sites.append(SiteBox(site, _fit(site, width - 2 * PAD, BOLD_CHAR), x, width,
                             30 + ROW * len(mine), marks))
        x += width + GAP
    return CameraMap(width=max(200.0, x), height=60.0 + ROW * max(len(cameras), 1),
                     sites=sites)
