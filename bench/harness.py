"""What every benchmark script shares: the import path and the model-cache argument."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy import model_registry  # noqa: E402


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the script's docstring, with ``--model-dir``."""
    result = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--model-dir", type=Path, default=Path(
        os.environ.get("SAFECITY_MODEL_DIR") or model_registry.default_cache_dir()))
    return result
