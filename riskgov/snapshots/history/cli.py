"""Command-line argument parsing shared by ``replay_history`` and ``backtest_liquidations``."""

from __future__ import annotations

import re

from riskgov.snapshots.history.reading import parse_time

__all__ = ["parse_duration", "parse_instant"]

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``/``15min``, ``1h``, ``1d`` (or plain seconds) → seconds > 0.

    Raises:
        ValueError: anything else.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 1h, 15m, 1d)")
    seconds = int(float(m.group(1)) * _UNITS[m.group(2) or "s"])
    if seconds <= 0:
        raise ValueError(f"duration must be > 0: {text!r}")
    return seconds


def parse_instant(text: str, option: str) -> int:
    """An ISO 8601 time (UTC when no offset) → epoch seconds.

    Raises:
        ValueError: naming ``option``.
    """
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"{option}: not an ISO 8601 time: {text!r}") from None
