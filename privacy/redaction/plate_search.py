"""Licence plates are searched where vehicles are.

The text detector (:mod:`privacy.redaction.plates`) reads any text-like blob: signs, litter, a
group of dark coats. A plate is text on a vehicle, so:

* each vehicle large enough to carry a readable plate is searched on its own crop, upscaled (a
  plate 30 px wide in a wide scene becomes ~100 px at the network's input);
* a text line on or next to a vehicle is a plate, no larger than a plate of that vehicle can be
  (hidden wherever it is on the vehicle, counted as the vehicle's plate only in its plate zone);
* a text line in a vehicle's plate zone may be a plate read only in part (a few characters
  found, glare or an angle over the rest): besides the plate box made from it (which the plate
  reader reads), the region that any plate of that vehicle holding the part could occupy is
  hidden as a plate zone (fail closed: it stands in for the vehicle's zone, which is dropped
  once a plate is found in it);
* a text line away from every vehicle is a plate only if it is shaped and sized like one;
* a vehicle that could carry a readable plate but shows none gets its plate zone hidden anyway
  (fail closed: a plate the text detector missed, at a steep angle or under glare).

Plate geometry (what "shaped like a plate" and "no larger than its vehicle allows" rest on):
an EU plate is 520 x 110 mm with 75-79 mm characters (DIN 74069; UK BS AU 145e: 520 x 111),
a North American one 12 x 6 in (305 x 152 mm) with ~70 mm characters (AAMVA), a two-line
motorcycle plate ~1.3:1. A single text line is thus 2 to 6.5 times as wide as tall seen from
the front, and a plate is at most 0.30 of a car's width (520 mm of ~1.75 m) and 0.20 of a bus's
or truck's (of 2.55 m); its height is ~0.1 of a car's and ~0.16 of a motorcycle's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from privacy.redaction.boxes import Box, Detection, Labelled, iou_matrix, non_max_suppression
from privacy.redaction.plates import TextLine, TextPlateDetector, plate_box

# Of a vehicle's box width, the widest its plate can be seen (front or rear view); None: the
# class carries no plate worth a zone (bicycles), though text near it is still a plate.
PLATE_OF_WIDTH: dict[str, float | None] = {
    "car": 0.30, "motorcycle": 0.30, "bus": 0.20, "truck": 0.20, "bicycle": None,
}
VEHICLE_LABELS = tuple(PLATE_OF_WIDTH)
# Where the plate sits, top to bottom as fractions of the box: bumper height to the boot lid on
# cars, above the rear wheel on motorcycles, the bumper of a bus or a truck's cab or trailer.
ZONE_BAND: dict[str, tuple[float, float]] = {
    "car": (0.40, 0.95), "motorcycle": (0.30, 0.85), "bus": (0.60, 1.0), "truck": (0.60, 1.0),
}
# A vehicle seen from the front or the rear is about as wide as tall (a car 1.8 m by 1.45 m, a
# bus 2.55 m by 3 m, a motorcycle 0.8 m by 1.2 m); from the side or three quarters two to four
# times wider. Seen from the front or rear its plate is near the middle: within the middle
# ZONE_MIDDLE of its width, the plate being at most 0.30 of it, off-centre by a little.
FRONTAL_ASPECT = 1.6
ZONE_MIDDLE = 0.6
NEAR = 0.10  # of a vehicle's size: a text line whose centre is this close belongs to it
CROP_MARGIN = 0.05  # the crop searched around a vehicle's box (boxes are a little tight)
CROP_GAIN = 1.25  # a crop is searched only where it is this much larger than in the whole frame
# A padded plate box is at most this share of its vehicle's box (the plate's own share with
# room for the padding and a loose box), and of the frame.
MAX_OF_VEHICLE = (0.5, 0.3)
MAX_OF_FRAME = (0.5, 0.35)
ALONE_ASPECT = (1.5, 8.0)  # width / height of a text line taken as a plate away from vehicles
ON_VEHICLE_MIN_ASPECT = 0.8  # taller than wide is no plate's text line, even at a steep angle


@dataclass(frozen=True)
class PlateRules:
    """The policy's plate settings, as the search uses them."""

    crop_width: int = 320
    crop_scale: float = 4.0
    crops: int = 6
    alone_height: float = 0.1
    zones: bool = True
    readable_width: int = 30


SAME_VEHICLE = 0.6  # IoU above which two vehicle boxes of different classes are one vehicle


def vehicles(objects: Sequence[Labelled], threshold: float) -> list[Labelled]:
    """The vehicles, one box each: the detector suppresses overlaps per class only, and often
    reports one vehicle as both a car and a truck; the better scored class is kept."""
    kept: list[Labelled] = []
    for found in sorted((o for o in objects if o.label in PLATE_OF_WIDTH
                         and o.score >= threshold), key=lambda o: o.score, reverse=True):
        if not kept or iou_matrix([found.box], [k.box for k in kept]).max() <= SAME_VEHICLE:
            kept.append(found)
    return kept


def could_be_readable(vehicle: Labelled, readable_width: int) -> bool:
    """Whether the vehicle is large enough for its plate to be read, seen from the front."""
    share = PLATE_OF_WIDTH.get(vehicle.label)
    return share is not None and share * vehicle.box.width >= readable_width


def plate_zone(vehicle: Labelled) -> Box:
    """Where the vehicle's plate must be: its class's band of the box's height, across the
    middle of the box seen from the front or the rear, across all of it otherwise (the plate is
    then at the near end, which the box does not tell)."""
    top, bottom = ZONE_BAND[vehicle.label]
    box = vehicle.box
    x1, x2 = box.x1, box.x2
    if box.width <= FRONTAL_ASPECT * box.height:
        side = (1.0 - ZONE_MIDDLE) / 2 * box.width
        x1, x2 = x1 + side, x2 - side
    return Box(x1, box.y1 + top * box.height, x2, box.y1 + bottom * box.height)


def widest_plate(vehicle: Labelled) -> float:
    """The widest the vehicle's plate can be seen, in pixels: its class's share of the
    vehicle's width seen from the front or the rear (a box wider than that is a side or three
    quarter view, whose front or rear is at most ``FRONTAL_ASPECT`` times its height)."""
    share = PLATE_OF_WIDTH.get(vehicle.label) or 0.0
    box = vehicle.box
    return share * min(box.width, FRONTAL_ASPECT * box.height)


def around_part(plate: Box, vehicle: Labelled) -> Box:
    """Where a plate holding ``plate`` (a plate box made from a text line found in the
    vehicle's plate zone) can be: every position of the widest plate the vehicle can carry, at
    least half as tall as wide (a 2:1 North American plate; an EU plate is flatter, a two-line
    one squarer but narrower), that contains the part, within the vehicle's box and no larger
    than a plate box of it may be (``MAX_OF_VEHICLE``). The text detector often finds only part
    of a plate's line, a few characters, the rest under glare or foreshortened: the plate box
    made from that part alone would leave the rest of the plate showing."""
    wide = max(widest_plate(vehicle), plate.width)
    tall = max(wide / 2, plate.height)
    region = Box(plate.x2 - wide, plate.y2 - tall, plate.x1 + wide, plate.y1 + tall)
    box = vehicle.box
    region = region.capped(MAX_OF_VEHICLE[0] * box.width, MAX_OF_VEHICLE[1] * box.height)
    return Box(max(region.x1, box.x1), max(region.y1, box.y1),
               min(region.x2, box.x2), min(region.y2, box.y2))


def fits_vehicle(plate: Box, vehicle: Box, width: int, height: int) -> bool:
    """A plate box no larger than its vehicle allows. An axis on which the vehicle's box is cut
    by the frame's border shows only part of the vehicle, and bounds nothing."""
    cut_x = vehicle.x1 <= 1 or vehicle.x2 >= width - 1
    cut_y = vehicle.y1 <= 1 or vehicle.y2 >= height - 1
    return ((cut_x or plate.width <= MAX_OF_VEHICLE[0] * vehicle.width)
            and (cut_y or plate.height <= MAX_OF_VEHICLE[1] * vehicle.height))


def fits_frame(plate: Box, width: int, height: int) -> bool:
    return plate.width <= MAX_OF_FRAME[0] * width and plate.height <= MAX_OF_FRAME[1] * height


def alone_plate(line: Box, height: int, alone_height: float) -> bool:
    """A text line away from every vehicle is a plate when shaped like a plate's line and no
    taller than ``alone_height`` of the frame. The line (grown by the unclip distance) is about
    as tall as its plate, and a car is ~12 (US) to ~16 (EU) plate heights wide, so the default
    (0.1) admits the plate of any car up to about a 16:9 frame's width that the detector missed
    (cut by the frame's edge, behind others; at night its body is dark, its plate lit), and
    refuses larger text: signs, a group of dark coats read as one line."""
    aspect = line.width / max(line.height, 1e-6)
    return ALONE_ASPECT[0] <= aspect <= ALONE_ASPECT[1] and line.height <= alone_height * height


def owner(line: Box, found: Sequence[Labelled]) -> Labelled | None:
    """The vehicle a text line is on or next to: the largest whose box, grown by ``NEAR``,
    holds the line's centre (the loosest bound, as failing closed wants)."""
    cx, cy = line.centre
    near = [v for v in found if v.box.enlarged(NEAR).contains(cx, cy)]
    return max(near, key=lambda v: v.box.area) if near else None


def find_plates(frame: np.ndarray, text: TextPlateDetector, objects: Sequence[Labelled],
                threshold: float, rules: PlateRules) -> list[Detection]:
    """Plates, and plate zones of vehicles that show none, in one frame."""
    height, width = frame.shape[:2]
    cars = vehicles(objects, threshold)
    lines: list[TextLine] = list(text.lines(frame))
    whole = 1.0 if text.input_width is None else min(1.0, text.input_width / width)
    searched = sorted((v for v in cars if could_be_readable(v, rules.readable_width)),
                      key=lambda v: v.box.area, reverse=True)
    crops = 0
    for vehicle in searched:
        region = vehicle.box.enlarged(CROP_MARGIN).clipped(width, height)
        scale = min(rules.crop_width / max(region.width, 1.0), rules.crop_scale)
        if scale < CROP_GAIN * whole:
            continue  # the whole-frame pass saw it about as large
        if crops == rules.crops:
            break
        crops += 1
        lines += text.lines(frame, region, rules.crop_width, rules.crop_scale)
    found: list[Detection] = []
    shown: set[int] = set()
    for line in lines:
        plate = plate_box(line.box, text.plate_padding)
        if plate.height < text.min_height or not fits_frame(plate, width, height):
            continue
        carrier = owner(line.box, cars)
        if carrier is None:
            if alone_plate(line.box, height, rules.alone_height):
                found.append(Detection("plate", plate, line.score))
            continue
        aspect = line.box.width / max(line.box.height, 1e-6)
        if aspect < ON_VEHICLE_MIN_ASPECT or not fits_vehicle(plate, carrier.box, width, height):
            continue
        found.append(Detection("plate", plate, line.score))
        in_zone = carrier.label in ZONE_BAND and plate_zone(carrier).contains(*line.box.centre)
        if in_zone:
            found.append(Detection("plate_zone", around_part(plate, carrier), line.score))
        if carrier.label not in ZONE_BAND or in_zone:
            shown.add(id(carrier))  # text elsewhere on it (a tail light, a badge) is no plate
    if rules.zones:
        for vehicle in cars:
            if (id(vehicle) not in shown and vehicle.label in ZONE_BAND
                    and could_be_readable(vehicle, rules.readable_width)):
                found.append(Detection("plate_zone", plate_zone(vehicle), vehicle.score))
    return non_max_suppression(found, 0.3)
