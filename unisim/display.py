"""One way to print a number: 4 significant digits, everywhere unisim shows one.

    num(0.0299483713)        # "0.02995"
    num(None)                # "-"   (num(None, empty="") for table cells and exports)
    num("0.0299483713")      # "0.02995"  (registry version tags are strings)
    interval(0.028, 0.031)   # "[0.028, 0.031]"

Stored values (metrics, tags, CSV exports, report.json) keep full precision; this is
only how the terminal, the HTML export, run descriptions and production-config headers
show them, so one number never appears as 0.02995, 0.0299484 and 0.0299483713.
"""

from __future__ import annotations

import math
from typing import Any

DIGITS = 4


def num(value: Any, empty: str = "-") -> str:
    """``value`` with 4 significant digits; ``empty`` for None or a non-number string."""
    if value is None or value == "":
        return empty
    if isinstance(value, bool):
        return str(value).lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit()):
        return str(int(number))
    if not math.isfinite(number):
        return str(number)
    return f"{number:.{DIGITS}g}"


def interval(low: Any, high: Any, empty: str = "") -> str:
    """``[low, high]`` in the same precision ('' when either end is missing)."""
    if low is None or high is None:
        return empty
    return f"[{num(low)}, {num(high)}]"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 run``, ``2 runs`` (``words``: an irregular plural)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
