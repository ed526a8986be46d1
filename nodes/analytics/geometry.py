"""Plane geometry for zones and lines in relative image coordinates (0..1 on both axes)."""

from __future__ import annotations

Point = tuple[float, float]


def inside(point: Point, polygon: list[Point]) -> bool:
    """Even-odd rule (ray casting to the right); points on an edge count as inside."""
    x, y = point
    result = False
    count = len(polygon)
    for i in range(count):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % count]
        if _on_segment(point, (x1, y1), (x2, y2)):
            return True
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < crossing:
                result = not result
    return result


def side(point: Point, a: Point, b: Point) -> float:
    """> 0 when ``point`` is on the right of the directed line a->b as seen on screen (image y
    grows downwards), < 0 on its left, 0 on it."""
    return (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])


def crosses(p: Point, q: Point, a: Point, b: Point) -> int:
    """+1 when the move p->q crosses segment a-b from its left to its right (as seen on screen,
    facing from a to b), -1 the other way, 0 when it does not cross (touching does not count)."""
    before, after = side(p, a, b), side(q, a, b)
    if before == 0 or after == 0 or (before > 0) == (after > 0):
        return 0
    if (side(a, p, q) > 0) == (side(b, p, q) > 0):
        return 0
    return 1 if after > 0 else -1


def self_intersecting(polygon: list[Point]) -> bool:
    """Whether two non-adjacent edges cross (a bow-tie is not a zone)."""
    count = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % count]) for i in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                continue
            (a, b), (c, d) = edges[i], edges[j]
            if crosses(a, b, c, d) != 0:
                return True
    return False


def area(polygon: list[Point]) -> float:
    count = len(polygon)
    return abs(sum(polygon[i][0] * polygon[(i + 1) % count][1]
                   - polygon[(i + 1) % count][0] * polygon[i][1] for i in range(count))) / 2


def _on_segment(p: Point, a: Point, b: Point, tolerance: float = 1e-12) -> bool:
    if abs(side(p, a, b)) > tolerance:
        return False
    return (min(a[0], b[0]) - tolerance <= p[0] <= max(a[0], b[0]) + tolerance
            and min(a[1], b[1]) - tolerance <= p[1] <= max(a[1], b[1]) + tolerance)
