"""Why each watchlist target of the demo was or was not sighted, from the footage's ground truth.

The demo's watchlist is every plate painted into its footage plus one decoy that is on no camera
(a match on it would be a false match). A painted plate that the node never read is not an error
of the query: the plate reader did not read it (too small or too oblique in every frame), so it
never became a sighting. Saying which is which keeps "4 of 6 sighted" from reading as a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from simulation.synthetic import GroundTruth


def normalised(label: str) -> str:
    """A plate as the watchlist holds it: its characters without spaces."""
    return label.replace(" ", "")


def plates_on_camera(truths: Mapping[str, Sequence[Sequence[GroundTruth]]]
                     ) -> dict[str, dict[str, Any]]:
    """Each painted plate: the cameras it is on, the frames it is visible in, its widest box."""
    found: dict[str, dict[str, Any]] = {}
    for camera, frames in truths.items():
        for frame in frames:
            for truth in frame:
                if truth.kind != "plate" or not truth.label:
                    continue
                entry = found.setdefault(normalised(truth.label),
                                         {"cameras": [], "frames": 0, "widest_px": 0})
                if camera not in entry["cameras"]:
                    entry["cameras"].append(camera)
                entry["frames"] += 1
                entry["widest_px"] = max(entry["widest_px"], round(truth.box.width))
    return found


def unsighted(watchlist: Iterable[str], on_camera: Mapping[str, Mapping[str, Any]],
              sighted: Iterable[str]) -> list[str]:
    """One plain phrase for each target not sighted, saying why."""
    seen = set(sighted)
    phrases = []
    for target in watchlist:
        if target in seen:
            continue
        facts = on_camera.get(target)
        if facts is None:
            phrases.append(f"{target} is a decoy on no camera (no false match, as it should be)")
        else:
            phrases.append(f"{target} was on {', '.join(facts['cameras'])} in {facts['frames']} "
                           f"frames (at most {facts['widest_px']} px wide) but the plate reader "
                           "never read it, so it was never a sighting")
    return phrases
