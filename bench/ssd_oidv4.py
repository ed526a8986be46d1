"""MediaPipe Objectron's first stage as a person detector, for bench/person_ceiling.py only.

The npm package ``@mediapipe/objectron`` (Apache-2.0) packs
``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite`` into
``objectron_solution_packed_assets.data`` (bytes 184..9987912 in 0.4.1675468480): an SSD
MobileNetV2 at 300x300 trained on 24 Open Images classes, "Person" among them. OpenCV's TFLite
importer runs it (NCHW input); onnxruntime cannot without a tflite->onnx conversion. Anchors
and box decoding follow MediaPipe's objectron graph (SsdAnchorsCalculator: 6 layers, scales
0.2-0.95, ratios 1, 2, 1/2, 3, 1/3, lowest layer reduced; box scales 10, 10, 5, 5; sigmoid).

Measured (detsearch session): not a candidate. Its person score peaks at 0.2-0.55 on people
plainly in view (background 0.99 on every anchor), and at a 0.2 floor it matches 3 of 102
people on vtest and 4 of 37 held out (NanoDet: 94 and 36). OpenCV's importer gives the same
person scores as the LiteRT interpreter (``ai-edge-litert`` 2.3.0), so the runtime is not
the cause; other input ranges ([0, 1], [0, 255], BGR) and box orders did no better.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 300
PERSON = 4  # index in object_detection_oidv4_labelmap.txt ("???" is 0)
_STRIDES = (16, 32, 64, 128, 256, 512)
_RATIOS = (1.0, 2.0, 0.5, 3.0, 1 / 3)


def anchors() -> np.ndarray:
    """(N, 4) anchors as y-centre, x-centre, height, width, all relative to the image."""
    scales = [0.2 + (0.95 - 0.2) * i / (len(_STRIDES) - 1) for i in range(len(_STRIDES))]
    rows = []
    for layer, stride in enumerate(_STRIDES):
        scale = scales[layer]
        if layer == 0:
            shapes = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            following = scales[layer + 1] if layer + 1 < len(scales) else 1.0
            shapes = [(scale, r) for r in _RATIOS] + [(float(np.sqrt(scale * following)), 1.0)]
        cells = int(np.ceil(SIZE / stride))
        for y in range(cells):
            for x in range(cells):
                for s, r in shapes:
                    rows.append(((y + 0.5) / cells, (x + 0.5) / cells,
                                 s / np.sqrt(r), s * np.sqrt(r)))
    return np.array(rows, dtype=np.float32)


class SsdOidv4:
    """People boxes (x1, y1, x2, y2 in pixels) with their scores, after NMS at IoU 0.45."""

    def __init__(self, model: str, floor: float) -> None:
        self.net = cv2.dnn.readNetFromTFLite(model)
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.anchors = anchors()
        self.floor = floor

    def detect(self, bgr: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        height, width = bgr.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(bgr, (SIZE, SIZE)), cv2.COLOR_BGR2RGB)
        tensor = (rgb.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        self.net.setInput(tensor)
        boxes, classes = self.net.forward(self.outputs)
        raw, a = boxes[0], self.anchors  # y, x, h, w per anchor
        scores = 1 / (1 + np.exp(-classes[0][:, PERSON]))
        keep = scores >= self.floor
        raw, a, scores = raw[keep], a[keep], scores[keep]
        yc = raw[:, 0] / 10 * a[:, 2] + a[:, 0]
        xc = raw[:, 1] / 10 * a[:, 3] + a[:, 1]
        h = np.exp(raw[:, 2] / 5) * a[:, 2]
        w = np.exp(raw[:, 3] / 5) * a[:, 3]
        xywh = np.stack([(xc - w / 2) * width, (yc - h / 2) * height, w * width, h * height], 1)
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.floor, 0.45)
        return [((float(x), float(y), float(x + bw), float(y + bh)), float(scores[i]))
                for i in np.array(chosen).reshape(-1) for x, y, bw, bh in [xywh[i]]]
