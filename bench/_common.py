"""Helpers shared by the benchmarks (``bench/engine.py``, ``options.py``, ``paths.py``, ``venue.py``).

Timing, peak memory, the printed table, the agreement check of two stress results and the
row selection of a scenario set: written once so every benchmark measures and reports the
same way. Benchmarks only; nothing here is part of riskgov.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from riskgov.engine.scenarios import ScenarioSet


def timed(fn: Callable[..., Any], *a: Any, **k: Any) -> tuple[Any, float, float]:
    """``(fn(*a, **k), wall seconds, CPU seconds)``; CPU is user + system of this process (all threads)."""
    c0, t0 = os.times(), time.perf_counter()
    out = fn(*a, **k)
    t1, c1 = time.perf_counter(), os.times()
    return out, t1 - t0, (c1.user - c0.user) + (c1.system - c0.system)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far, GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def print_rows(
    rows: Sequence[tuple[str, float, str]], *, col: int, places: int, note: str | None = None, unit: str = ""
) -> None:
    """Print ``(label, seconds, note)`` rows aligned: label, seconds (``col`` wide, ``places``
    decimals, then ``unit``), note. ``note`` names the third column in a header line
    (``step  seconds  <note>``); no header when ``None``."""
    width = max(len(r[0]) for r in rows)
    if note is not None:
        print(f"{'step':<{width}}  {'seconds':>{col}}  {note}")
    for name, sec, text in rows:
        print(f"{name:<{width}}  {sec:>{col}.{places}f}{unit}  {text}")


def check_agree(a: Any, b: Any, money: Sequence[str], message: str) -> None:
    """Raise AssertionError unless two stress results agree (RISK_MODEL §1, §9).

    Counts (``n_liquidated``, ``n_bankrupt``, ``top2_account``) must be equal, the USD fields
    ``money`` equal to rtol 1e-9 (atol 1e-6 USD). ``message`` is a ``str.format`` template of
    ``k``, the field that differs.
    """
    for k in ("n_liquidated", "n_bankrupt", "top2_account"):
        if not np.array_equal(getattr(a, k), getattr(b, k)):
            raise AssertionError(message.format(k=k))
    for k in money:
        if not np.allclose(getattr(a, k), getattr(b, k), rtol=1e-9, atol=1e-6):
            raise AssertionError(message.format(k=k))


def take_scenarios(sc: ScenarioSet, take: np.ndarray) -> ScenarioSet:
    """The scenarios ``take`` (``(n,)`` int indices, in that order) of ``sc``, with their names,
    kinds and dates."""
    return ScenarioSet(
        names=tuple(sc.names[i] for i in take),
        kinds=tuple(sc.kinds[i] for i in take),
        shocks=sc.shocks[take],
        asset_symbols=sc.asset_symbols,
        start_date=tuple(sc.start_date[i] for i in take),
        end_date=tuple(sc.end_date[i] for i in take),
    )


def venue_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the seeded synthetic venue's sizes (``bench.venue.make_venue``):
    ``--accounts`` (1,000,000), ``--positions`` (3,000,000), ``--markets`` (50), ``--seed`` (7)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=3_000_000)
    ap.add_argument("--markets", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    return ap
