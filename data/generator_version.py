"""Which version of the synthetic photo generator made a data set: a hash of its source files.

Cached generated photos (benchmarks, the default-model recipe) are reused only when this hash is the
one they were made with; a changed generator must never be evaluated on, or train from, stale photos.
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def generator_hash(length: int = 10) -> str:
    """Short sha256 of data/synth*.py, the generator's code."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("synth*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:length]
