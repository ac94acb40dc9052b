"""Small statistics helpers (no numpy in the runtime image)."""

from __future__ import annotations

import math


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "—"
    if base <= 0:
        return "∞" if value > 0 else "1.0×"
    return f"{value / base:.1f}×"
