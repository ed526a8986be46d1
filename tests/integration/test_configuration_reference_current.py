"""The configuration reference in docs/ is what docs/configuration.py generates (run as a
script)."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_configuration_reference import ROOT


def test_the_configuration_reference_is_current() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "configuration.py"), "--check"],
                          check=False, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
