"""Body pose of one person: 33 keypoints from a crop around the person's box.

The model is MediaPipe's BlazePose GHUM landmark model (Bazarevsky et al., "BlazePose:
On-device Real-time Body Pose tracking", CVPR Workshop on Computer Vision for AR/VR 2020;
Apache-2.0), in the lite variant the registry converts from TensorFlow.js (``blazepose-lite``).
MediaPipe runs it on a square region around one person found by its own detector; here the
region comes from the person's box (NanoDet, ``privacy.redaction.objects``): a square on the
box's centre, ``margin`` times its longer side, so the whole body is inside with some context as
MediaPipe's region has (its 1.25 scale around the body). The crop is resized to 256x256, RGB in
0..1. Outputs used: ``ld_3d``, 39 landmarks of 5 values (x and y in crop pixels, z, then
visibility and presence as logits; the first 33 are the body's, the rest MediaPipe's own region
hints), and ``output_poseflag``, the probability that a person is in the crop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privacy.errors import ModelError
from privacy.model_registry import VerifiedModel
from privacy.onnx_session import cpu_session
from privacy.redaction.boxes import Box

# MediaPipe Pose's 33 landmarks, in the model's order.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
INPUT_SIZE = 256
_VALUES = 5  # x, y, z, visibility, presence per landmark


@dataclass(frozen=True)
class Keypoint:
    """One landmark in frame pixels; ``visibility`` is the model's probability (0..1) that it is
    visible, not hidden by the body or something else."""

    name: str
    x: float
    y: float
    visibility: float


@dataclass(frozen=True)
class Pose:
    """One person's keypoints, the probability that the crop holds a person, and the crop."""

    keypoints: tuple[Keypoint, ...]
    presence: float
    crop: Box

    def keypoint(self, name: str) -> Keypoint:
        return self.keypoints[KEYPOINT_NAMES.index(name)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


class PoseEstimator:
    """Estimate the pose of the one person inside ``box`` on a BGR frame."""

    def __init__(self, model: Path | VerifiedModel, margin: float = 1.25, threads: int = 1):
        if margin < 1.0:
            raise ModelError(f"pose crop margin {margin}: use 1.0 or more (the whole box)")
        self._session = cpu_session(model, threads, "pose model")
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        self.margin = margin

    def crop_box(self, box: Box) -> Box:
        """The square region the model sees: centred on ``box``, ``margin`` times its longer
        side (it may reach outside the frame; that part is black)."""
        cx, cy = box.centre
        half = max(box.width, box.height) * self.margin / 2
        return Box(cx - half, cy - half, cx + half, cy + half)

    def estimate(self, frame: np.ndarray, box: Box) -> Pose:
        crop = self.crop_box(box)
        scale = INPUT_SIZE / crop.width
        # frame -> crop pixels: one affine warp, bilinear, black outside the frame
        matrix = np.array([[scale, 0, -crop.x1 * scale], [0, scale, -crop.y1 * scale]])
        patch = cv2.warpAffine(frame, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        tensor = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        with self._lock:  # one run at a time: the session's threads are the parallelism
            landmarks, flag = self._session.run(["ld_3d", "output_poseflag"],
                                                {self._input: tensor})
        values = landmarks.reshape(-1, _VALUES)[:len(KEYPOINT_NAMES)]
        xs = crop.x1 + values[:, 0] / scale
        ys = crop.y1 + values[:, 1] / scale
        visibility = _sigmoid(values[:, 3])
        keypoints = tuple(Keypoint(name, float(x), float(y), float(v))
                          for name, x, y, v in zip(KEYPOINT_NAMES, xs, ys, visibility,
                                                   strict=True))
        return Pose(keypoints, float(flag.reshape(-1)[0]), crop)
