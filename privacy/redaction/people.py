"""Faces and people: a face box bounded by its person, a person's head hidden where the face
detector missed it.

The face detector misses profiles, backs of heads turning, and faces under ~10 px; the object
detector still sees the person. Where a person is tall enough that a face could be recognised
and no face was found at its head, the top of its box is hidden: the head, sized from the box by
the body's proportions, never the whole person.

Proportions from Drillis and Contini, "Body Segment Parameters" (NYU report 1166-03, 1966), as
given in Winter, "Biomechanics and Motor Control of Human Movement" (4th ed., 2009), fig. 4.1:
the head, chin to crown, is 0.130 of the standing height, the shoulders 0.259 of it wide.
"""

from __future__ import annotations

from collections.abc import Sequence

from privacy.redaction.boxes import Box, Detection, Labelled

HEAD_OF_HEIGHT = 0.130
SHOULDERS_OF_HEIGHT = 0.259
# The hidden head region, in head heights: detector boxes are loose by a few percent of the
# person's height, a head bends and turns, and a walker's box is off-centre by a stride.
HEAD_COVER_HEIGHT = 1.5
HEAD_COVER_WIDTH = 2.5
HEAD_ABOVE = 0.3  # detector boxes cut into the hair: the region starts this far above the box
# A head region is left to the face detector when a face's cover already hides this much of it
# (a neighbour's face hides little of it, and does not stand in for this head).
FACE_HIDES_HEAD = 0.6
# A face at least this share of the person's head height, centred in its head region, is the
# person's own face: found, it needs no head region (which, sized for a far person's loose box,
# would hide a near person's shoulders). Only from OWN_FACE_PX up: a smaller face's box is
# rough, and its margin leaves hair and brow out where the head region would not.
OWN_FACE = 0.5
OWN_FACE_PX = 32
# A small person's box edges are as uncertain as a few of the object detector's input pixels,
# whatever the person's size: on the hand-labelled vtest.avi people (45 input px tall at 416),
# NanoDet's top edge lies within 1.9 input px of the label and its centre within 1.7, for 9 in
# 10 people. A far person's head region, whose margin above the box (HEAD_ABOVE heads) is less
# than that, is widened by it on every side; a near person's proportional margins exceed it.
EDGE_UNCERTAINTY_INPUT_PX = 2.0
# A standing or walking person's whole box is this wide for its height, on average, arms and
# stride included (Dollar et al., "Pedestrian Detection: An Evaluation of the State of the Art",
# IEEE TPAMI 2012, whose Caltech boxes are standardised to it). A box wider than that is taken
# as shorter than its person: cut by something in front, or foreshortened by a camera above.
WALKER_ASPECT = 0.41


def persons(objects: Sequence[Labelled], threshold: float) -> list[Labelled]:
    return [o for o in objects if o.label == "person" and o.score >= threshold]


def head_height(person: Box, frame_height: int) -> float:
    """The head's height, from the person's. A box cut by the frame's bottom edge (a close
    camera, a person walking up to it) is shorter than the person: its shoulders tell the height
    then."""
    height = person.height
    if person.y2 >= frame_height - 1:
        height = max(height, person.width / SHOULDERS_OF_HEIGHT)
    return HEAD_OF_HEIGHT * height


def head_by_width(person: Box) -> float:
    """The head's height from the box's width alone (the shoulders 0.259 of the height).

    A person's box is often shorter than the person, rarely narrower: cut by something in front
    (a parked car, a bench, another person), or foreshortened by a camera looking down (CCTV on
    a pole or a wall sees a far person's body shortened with the angle of view, its shoulders
    not). A stride or a swinging arm widens a box, and this estimate then errs large."""
    return HEAD_OF_HEIGHT * person.width / SHOULDERS_OF_HEIGHT


def head_region(person: Box, frame_height: int, head: float | None = None) -> Box:
    """Where the head of a person standing, walking or turned away is: the top of the box,
    centred, no wider than the box. ``head``: its height, if not :func:`head_height`'s."""
    if head is None:
        head = head_height(person, frame_height)
    cx = (person.x1 + person.x2) / 2
    half = min(person.width, HEAD_COVER_WIDTH * head) / 2
    top = person.y1 - HEAD_ABOVE * head
    bottom = min(person.y2, person.y1 + HEAD_COVER_HEIGHT * head)
    return Box(cx - half, top, cx + half, bottom)


def bound_faces(faces: list[Detection], people: Sequence[Labelled]) -> list[Detection]:
    """A face whose centre lies on a person is no larger than that person is wide (a larger one
    is the detector's error, and would hide the person). The widest such person bounds it."""
    bounded = []
    for face in faces:
        cx, cy = face.box.centre
        widths = [p.box.width for p in people if p.box.contains(cx, cy)]
        if not widths:
            bounded.append(face)
            continue
        limit = max(widths)
        bounded.append(Detection(face.kind, face.box.capped(limit, limit), face.score))
    return bounded


def missed_heads(faces: Sequence[Box], covers: Sequence[Box], people: Sequence[Labelled],
                 frame_height: int, min_height: float, pad: float = 0.0,
                 from_width: bool = True) -> list[Detection]:
    """Head regions of the people tall enough for a recognisable face (``min_height`` px of
    head) whose face was not found: no face of this person's scale (half its head or more,
    and 32 px or more) centred in the region, and no face's cover (``covers``, the ``faces`` as
    they will be hidden) hiding most of it already. Each is scored as its person, and hidden
    ``pad`` px larger on every side (the person box's uncertainty, see
    ``EDGE_UNCERTAINTY_INPUT_PX``).

    With ``from_width`` (fail closed), a person whose box is wider than a walker's
    (``WALKER_ASPECT``: cut short or foreshortened) and whose head is under ``min_height`` by
    its box's height but not by its width (:func:`head_by_width`) is taken at the larger: its
    head is hidden, with the region of a head of ``min_height`` px, the least that a
    recognisable face can be. The width decides whether a
    head is hidden, never how much more than that least region: a stride, an arm or a group
    merged into one box widens a box, and must not grow a region over bodies."""
    heads = []
    for found in people:
        person = found.box
        head = head_height(person, frame_height)
        if head < min_height:
            if not (from_width and person.width > WALKER_ASPECT * person.height
                    and head_by_width(person) >= min_height):
                continue
            head = min_height  # a recognisable head by the box's width: the least such region
        region = head_region(person, frame_height, head)
        if any(face.height >= max(OWN_FACE * head, OWN_FACE_PX)
               and region.contains(*face.centre) for face in faces):
            continue
        hidden = max((cover.intersection(region).area for cover in covers), default=0.0)
        if hidden >= FACE_HIDES_HEAD * region.area:
            continue
        if HEAD_ABOVE * head < pad:  # a far person's margins are smaller than its box's error
            region = Box(region.x1 - pad, region.y1 - pad, region.x2 + pad, region.y2 + pad)
        heads.append(Detection("head", region, found.score))
    return heads
