"""Checks of a snapshot's options (FORMATS.md "Options in a snapshot", RISK_MODEL §14).

Used by :func:`riskgov.snapshots.validation.snapshot_read`; every problem is one error naming
file, data row and column (``reading.Errors``), vectorized over whole columns. Rules:

* ``accounts.csv`` may carry ``margin_mode``: ``cross`` (also the default, and an empty
  value) or ``portfolio``; a portfolio-mode account holds no isolated position (its perps
  are margined inside their underlying's risk unit, §14);
* ``options.csv``: known account **in portfolio mode** (options are margined only by PM),
  ``underlying`` an ``Asset`` symbol with a price in ``prices.csv``, ``expiry`` ISO 8601
  (UTC assumed without an offset) **after** ``taken_at`` — or expired within the settlement
  window (``SETTLEMENT_WINDOW_HOURS`` before ``taken_at``): such an option is expired and
  settling, valued at its intrinsic value on spot (§14 ``T ≤ 0``); ``strike > 0``; ``kind``
  ``call`` or ``put``; ``size`` a plain decimal; ``entry_price ≥ 0`` (premium per base unit);
* ``option_marks.csv``: ``underlying`` an ``Asset`` symbol, ``expiry`` ISO 8601,
  ``strike > 0``, ``kind`` ``call``/``put``, ``mark_iv > 0`` (a fraction: 0.55 = 55 %),
  at most one mark per series ``(underlying, expiry, strike, kind)``;
* every option held has a mark (the series is matched by underlying, expiry instant, strike
  value and kind); ``option_marks.csv`` is required when ``options.csv`` has rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskgov.snapshots.reading import AMOUNT_DIGITS, Errors, decimals, iso_times, lookup, np_of

__all__ = ["SETTLEMENT_WINDOW_HOURS", "OptionRows", "check_account_modes", "check_options"]

#: an option expired at most this long before ``taken_at`` is settling (valued at intrinsic)
SETTLEMENT_WINDOW_HOURS = 24


@dataclass(frozen=True)
class OptionRows:
    """Checked option rows (file order). ``options``: ``account_idx``, ``underlying_id``,
    ``expiry`` (int64 epoch seconds), ``strike``, ``is_call``, ``size``, ``entry_price``;
    ``marks``: ``underlying_id``, ``expiry``, ``strike``, ``is_call``, ``mark_iv`` (decimal
    strings where the file has decimals)."""

    options: dict
    marks: dict


def check_account_modes(errors: Errors, f: str, accounts: dict[str, pa.Array]) -> np.ndarray:
    """``(A,)`` bool portfolio mode of each account (``margin_mode`` absent: all cross)."""
    acc = accounts["account_id"]
    mode = accounts.get("margin_mode")
    if mode is None:
        return np.zeros(len(acc), dtype=bool)
    portfolio = np_of(pc.equal(mode, "portfolio"))
    cross = np_of(pc.equal(mode, "cross")) | np_of(pc.equal(mode, ""))
    errors.add_mask(f, "margin_mode", ~portfolio & ~cross, mode, "{value!r} is not 'cross' or 'portfolio'")
    return portfolio


def check_portfolio_positions(
    errors: Errors, f: str, pos_acc: np.ndarray, isolated: np.ndarray, portfolio: np.ndarray
) -> None:
    """A portfolio-mode account holds no isolated position (§14)."""
    in_pm = (pos_acc >= 0) & portfolio[np.maximum(pos_acc, 0)] if len(portfolio) else np.zeros(len(pos_acc), bool)
    errors.add_mask(
        f, "margin_mode", in_pm & isolated, None, "isolated position in a portfolio-margin account (use cross)"
    )


def _kind(errors: Errors, f: str, kind: pa.Array) -> np.ndarray:
    is_call = np_of(pc.equal(kind, "call"))
    is_put = np_of(pc.equal(kind, "put"))
    errors.add_mask(f, "kind", ~is_call & ~is_put, kind, "{value!r} is not 'call' or 'put'")
    return is_call


def _positive(errors: Errors, f: str, column: str, values: pa.Array, what: str) -> np.ndarray:
    v, ok = decimals(errors, f, column, values, digits=AMOUNT_DIGITS)
    errors.add_mask(f, column, ok & ~(v > 0), values, f"{what} {{value}} must be > 0")
    return v


def _series_key(und: np.ndarray, expiry: np.ndarray, strike: np.ndarray, is_call: np.ndarray) -> np.ndarray:
    """One structured key per series (exact: the strike's float64 of its decimal)."""
    key = np.empty(und.size, dtype=[("u", np.int64), ("e", np.int64), ("k", np.float64), ("c", np.bool_)])
    key["u"], key["e"], key["k"], key["c"] = und, expiry, strike, is_call
    return key


def check_options(
    errors: Errors,
    files: tuple[str, str | None],
    options: dict[str, pa.Array],
    marks: dict[str, pa.Array] | None,
    *,
    account_index,
    portfolio: np.ndarray,
    assets: dict[str, int],
    taken_at: datetime | None,
) -> OptionRows:
    """Check ``options`` and ``option_marks`` (module docstring); returns the rows.

    Args:
        files: the two tables' file names (``None`` when the marks file is absent).
        options, marks: ``{column: string array}`` of each table.
        account_index: ``(file, values) -> (n,) int64`` account row of each value (-1 unknown,
            an error reported by it).
        portfolio: ``(A,)`` bool portfolio mode of each account.
        assets: ``{symbol: Asset pk}``.
        taken_at: the snapshot's time (``None`` when invalid: the expiry rule is skipped).
    """
    f, fm = files
    acc = account_index(f, options["account_id"])
    known = acc >= 0
    not_pm = known & ~portfolio[np.maximum(acc, 0)] if len(portfolio) else known
    errors.add_mask(
        f, "account_id", not_pm, options["account_id"], "account {value!r} holds options but is not in portfolio mode"
    )
    und, und_ok = lookup(errors, f, "underlying", options["underlying"], assets, "underlying")
    expiry, exp_ok = iso_times(errors, f, "expiry", options["expiry"])
    if taken_at is not None:
        floor = int(taken_at.timestamp()) - SETTLEMENT_WINDOW_HOURS * 3600
        errors.add_mask(
            f,
            "expiry",
            exp_ok & (expiry < floor),
            options["expiry"],
            f"{{value}} is more than {SETTLEMENT_WINDOW_HOURS} h before taken_at (expired and settled)",
        )
    strike = _positive(errors, f, "strike", options["strike"], "strike")
    is_call = _kind(errors, f, options["kind"])
    decimals(errors, f, "size", options["size"], digits=AMOUNT_DIGITS)
    entry, entry_ok = decimals(errors, f, "entry_price", options["entry_price"], digits=AMOUNT_DIGITS)
    errors.add_mask(f, "entry_price", entry_ok & (entry < 0), options["entry_price"], "entry price {value} is negative")

    n_opt = len(options["account_id"])
    if marks is None:
        if n_opt:
            errors.add("option_marks.csv", None, None, "missing file (options.csv holds options; each needs a mark)")
        empty = np.zeros(0)
        mark_rows = {
            "underlying_id": empty.astype(np.int64),
            "expiry": empty.astype(np.int64),
            "strike": pa.array([], pa.string()),
            "is_call": empty.astype(bool),
            "mark_iv": pa.array([], pa.string()),
        }
    else:
        assert fm is not None
        m_und, m_und_ok = lookup(errors, fm, "underlying", marks["underlying"], assets, "underlying")
        m_exp, m_exp_ok = iso_times(errors, fm, "expiry", marks["expiry"])
        m_strike = _positive(errors, fm, "strike", marks["strike"], "strike")
        m_call = _kind(errors, fm, marks["kind"])
        _positive(errors, fm, "mark_iv", marks["mark_iv"], "mark_iv")
        m_key = _series_key(m_und, m_exp, m_strike, m_call)
        m_good = m_und_ok & m_exp_ok & np.isfinite(m_strike)
        good_idx = np.flatnonzero(m_good)
        _, first = np.unique(m_key[good_idx], return_index=True)
        dup = np.zeros(m_key.size, dtype=bool)
        dup[good_idx] = True
        dup[good_idx[first]] = False
        errors.add_mask(fm, "strike", dup, marks["strike"], "second mark for this series (strike {value})")
        o_key = _series_key(und, expiry, strike, is_call)
        o_good = und_ok & exp_ok & np.isfinite(strike)
        has_mark = np.isin(o_key, m_key[good_idx]) if good_idx.size else np.zeros(n_opt, dtype=bool)
        errors.add_mask(
            f,
            "strike",
            o_good & ~has_mark,
            options["strike"],
            "no mark in option_marks for this series (strike {value})",
        )
        mark_rows = {
            "underlying_id": m_und,
            "expiry": m_exp,
            "strike": marks["strike"],
            "is_call": m_call,
            "mark_iv": marks["mark_iv"],
        }
    return OptionRows(
        options={
            "account_idx": acc,
            "underlying_id": und,
            "expiry": expiry,
            "strike": options["strike"],
            "is_call": is_call,
            "size": options["size"],
            "entry_price": options["entry_price"],
        },
        marks=mark_rows,
    )
