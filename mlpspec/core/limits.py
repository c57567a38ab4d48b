"""How much a run may hold in memory, and so how much any file may unpack to.

One limit serves the memory estimate of a network (``mlpspec.run.budget``) and the readers of
compressed files (``.npz`` members, gzip-compressed IDX files): a file whose header promises
more data than a run may hold is refused before a byte of it is decompressed.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

from mlpspec.core.errors import Problem, SpecError

LIMIT_VARIABLE = "MLPSPEC_MAX_MEMORY"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_limit() -> int:
    """Bytes a run may use: ``$MLPSPEC_MAX_MEMORY`` (``8G``, ``512M``, bytes), else the
    machine's physical memory. The size is read exactly (a fraction, not a float), so that
    any number of digits gives a number of bytes rather than an overflow."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if text:
        match = _SIZE.fullmatch(text)
        if not match:
            raise SpecError(
                LIMIT_VARIABLE, [Problem("", f"expected a size like 8G or 512M, got {text[:40]!r}")]
            )
        size = int(Fraction(match[1]) * _UNITS[match[2].upper()])
        if size <= 0:
            raise SpecError(LIMIT_VARIABLE, [Problem("", f"must be more than 0, got {text!r}")])
        return size
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gigabytes(size: int) -> str:
    """``size`` bytes as ``1.5 GB`` (GiB, as ``free -g`` counts them)."""
    return f"{size / 2**30:,.1f} GB"
