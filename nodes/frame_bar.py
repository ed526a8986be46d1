"""The progress bar of ``safecity redact``: frames done of the total the container announces,
so tqdm can show a percentage and an ETA (tqdm.github.io: ``total`` enables ``remaining``).

It is drawn from the first finished frame on, never for a run that fails before one (an error
is then the only line on stderr), and erased when the run fails part way (``leave=False``)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class FrameBar:
    def __init__(self, label: str, quiet: bool) -> None:
        self._label = label
        self._quiet = quiet
        self._bar: Any = None  # a tqdm, once the first frame is done

    def __call__(self, done: int, total: int | None) -> None:
        """``done`` frames finished of ``total`` (the container's estimate; None: unknown)."""
        if self._quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="frame", file=sys.stderr, desc=self._label,
                             initial=done)  # first drawn with a frame done, not "0frame"
        if total is not None and done > (self._bar.total or 0):  # the estimate was short
            self._bar.total = done
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> FrameBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._bar is None:
            return
        if kind is None and self._bar.total != self._bar.n:  # the estimate was long
            self._bar.total = self._bar.n
            self._bar.refresh()
        self._bar.leave = kind is None  # a failed run's bar goes; its error line stays
        self._bar.close()
