"""The width of a head from its face box and landmarks: a turned face's box covers the face, and
the rest of the head (temple, ear, the back of the skull and its hair) shows beyond it on the
side the face is turned away from.

A face detector's box is drawn around the face, not the head. Seen from the front the head is
a little wider than that box (its breadth is 0.86 box heights, the box about 0.75 as wide as
tall: the ears), and the cover's margin hides the hair beyond the skull. Turned by a yaw
``theta``, the head seen from above (an ellipse, ``HEAD_LENGTH`` long and ``HEAD_BREADTH`` wide
about its vertical axis) spans ``sqrt((L/2)^2 sin^2 + (B/2)^2 cos^2)`` either side of that axis,
and the axis is ``(L/2) sin theta`` behind the nose: at 50-60 degrees the back of the head ends
more than half a face width past the box's far side, beyond what a margin in proportion to the
face hides. CenterFace gives the eyes and the nose tip in the same pass as the box, which is
enough to tell the yaw: the nose tip stands ``NOSE_DEPTH`` interpupillary distances in front of
the eyes, so its offset from their midpoint, along the line through them, is ``NOSE_DEPTH *
tan(theta)`` of their projected distance.

Anthropometry (adult means, Farkas, "Anthropometry of the Head and Face", 2nd ed., 1994):
head length (glabella to opisthocranion) about 19.5 cm, head breadth about 15 cm, interpupillary
distance about 6.3 cm, the nose tip about 2.5-3 cm in front of the pupils. The face box's height
in head lengths is the detector's own: the eyes of the frontal faces on the dev photos are
0.35-0.38 of CenterFace's box height apart, so the box is about 17.5 cm of face (6.3 / 0.36) and
the head 1.1 box heights long.
"""

from __future__ import annotations

import numpy as np

HEAD_LENGTH = 1.1  # front to back, in face-box heights
HEAD_BREADTH = 0.78 * HEAD_LENGTH  # cephalic index: breadth / length
NOSE_DEPTH = 0.45  # how far the nose tip stands in front of the eyes, in interpupillary distances


def head_spans(x1: np.ndarray, x2: np.ndarray, height: np.ndarray, left_eye: np.ndarray,
               right_eye: np.ndarray, nose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The horizontal extent ``(x1, x2)`` of each face's head, never narrower than its face box.

    ``x1``, ``x2``, ``height``: the face boxes, shape ``(n,)``; ``left_eye``, ``right_eye``,
    ``nose``: landmarks in the same pixels, shape ``(n, 2)``. A profile, whose eyes nearly
    coincide, counts as turned 90 degrees.
    """
    axis = right_eye - left_eye
    spread = np.maximum(np.einsum("ij,ij->i", axis, axis), 1e-6)
    # the nose's offset from the eyes' midpoint along the line through them, in eye distances:
    # a head tilted sideways (roll) leaves it unchanged
    offset = np.einsum("ij,ij->i", nose - (left_eye + right_eye) / 2, axis) / spread
    # the eye's sign is that of the image x axis: offset > 0, the nose points right of the eyes
    # (the head turned to the image's right, the back of the head on the left)
    tangent = offset * np.sign(axis[:, 0] + 1e-9) / NOSE_DEPTH
    sine = tangent / np.sqrt(1.0 + tangent**2)
    cosine = 1.0 / np.sqrt(1.0 + tangent**2)
    half_length, half_breadth = HEAD_LENGTH * height / 2, HEAD_BREADTH * height / 2
    centre = nose[:, 0] - half_length * sine  # the head's vertical axis, behind the nose
    half = np.sqrt((half_length * sine) ** 2 + (half_breadth * cosine) ** 2)
    return np.minimum(x1, centre - half), np.maximum(x2, centre + half)
