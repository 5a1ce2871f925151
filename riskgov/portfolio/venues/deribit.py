"""Deribit's portfolio-margin model parameters → riskgov PM values (RISK_MODEL §14). Pure Python.

Source: Deribit API v2 ``private/pme/simulate`` (https://docs.deribit.com/api-reference/
account-management/private-simulate) returns ``result.model_params``, Deribit's "pme"
parameter set, in this shape (the documented example, BTC, 2024-06-17)::

    {"currency_pair": {"btc_usd": {"price_range": 0.16, "volatility_range_up": 0.5,
        "volatility_range_down": 0.25, "short_term_vega_power": 0.3,
        "long_term_vega_power": 0.13, "min_volatility_for_shock_up": 0.5,
        "extended_table_factor": 1, "m_inc": 0.00005, "max_delta_shock": 0.1,
        "delta_total_liq_shock_threshold": 20000000}},
     "currency": {"btc": {"extended_dampener": 100000, "annualised_move_risk": 0.075, …}},
     "general": {"mm_factor": 0.8, "buckets_count": 4, "vol_scenarios_count": 3, …}}

The file may be the whole JSON-RPC response (``{"jsonrpc", "id", "result": {"model_params"…}}``),
its ``result``, or ``model_params`` itself. One underlying per ``currency_pair`` entry
(``btc_usd`` → ``BTC``).

Mapping (Deribit → §14): ``price_range`` → ``price_range``, ``general.buckets_count`` →
``buckets``, ``volatility_range_up/down`` → ``vol_range_up/down``, the vega powers by name,
``min_volatility_for_shock_up`` → ``min_vol_for_shock_up``, ``general.mm_factor`` →
``mm_factor``. Deribit publishes no DTE floor, no contingency rates and no extended table
weights (its ``extended_dampener`` is in USD, not a weight): those keep riskgov's §14
defaults, and every Deribit field riskgov does not use is listed in the notes
(``m_inc``, ``max_delta_shock``, ``delta_total_liq_shock_threshold``, the per-currency
``annualised_move_risk`` / ``extended_dampener`` …), so a reviewer sees what was left out.
``vol_scenarios_count`` must be 3 (down, none, up — the §14 grid).

Numbers are read from the JSON text exactly (``parse_float=Decimal``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from riskgov.core import limits as input_limits
from riskgov.portfolio.validation import default_values

__all__ = ["DeribitImport", "DeribitPMEError", "parse_deribit_pme", "read_deribit_pme"]

SOURCE = "Deribit API v2 private/pme/simulate result.model_params"

_PAIR_FIELDS = {
    "price_range": "price_range",
    "volatility_range_up": "vol_range_up",
    "volatility_range_down": "vol_range_down",
    "short_term_vega_power": "short_term_vega_power",
    "long_term_vega_power": "long_term_vega_power",
    "min_volatility_for_shock_up": "min_vol_for_shock_up",
}
_GENERAL_FIELDS = {"mm_factor": "mm_factor", "buckets_count": "buckets"}
_GENERAL_KNOWN = {*_GENERAL_FIELDS, "vol_scenarios_count", "timestamp"}


class DeribitPMEError(ValueError):
    """The file is not a Deribit ``model_params`` set; the message names the place."""


@dataclass(frozen=True)
class DeribitImport:
    """What one Deribit parameter set gives.

    Attributes:
        values: ``{underlying: PM values}`` (Decimals; §14 defaults where Deribit is silent).
        notes: human lines: the Deribit fields left out and the defaults kept.
        timestamp_ms: ``general.timestamp`` (ms since epoch) when given.
        source: where the numbers come from (kept on the versions).
    """

    values: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    timestamp_ms: int | None = None
    source: str = SOURCE


def _num(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise DeribitPMEError(f"{where}: {value!r} is not a number")
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise DeribitPMEError(f"{where}: {value!r} is not a number") from None
    if not d.is_finite():
        raise DeribitPMEError(f"{where}: {value!r} is not finite")
    return d


def _section(doc: dict, key: str, where: str) -> dict:
    sec = doc.get(key)
    if not isinstance(sec, dict):
        raise DeribitPMEError(f"{where}{key}: missing or not an object")
    return sec


def parse_deribit_pme(doc: Any) -> DeribitImport:
    """A parsed Deribit JSON document → :class:`DeribitImport` (values not yet validated:
    the PM validator is the one judge).

    Raises:
        DeribitPMEError: the shape is not Deribit's (message names the place).
    """
    if isinstance(doc, dict) and "result" in doc:
        doc = doc["result"]
    if isinstance(doc, dict) and "model_params" in doc:
        doc = doc["model_params"]
    if not isinstance(doc, dict):
        raise DeribitPMEError("model_params: not an object")
    general = _section(doc, "general", "model_params.")
    pairs = _section(doc, "currency_pair", "model_params.")
    currencies = doc.get("currency") if isinstance(doc.get("currency"), dict) else {}
    vsc = general.get("vol_scenarios_count", 3)
    if _num(vsc, "general.vol_scenarios_count") != 3:
        raise DeribitPMEError(f"general.vol_scenarios_count: {vsc} is not 3 (down, none, up of RISK_MODEL §14)")
    common: dict[str, Any] = {}
    for key, ours in _GENERAL_FIELDS.items():
        if key not in general:
            raise DeribitPMEError(f"general.{key}: missing")
        common[ours] = _num(general[key], f"general.{key}")
    notes = [f"general.{k} not used" for k in sorted(set(general) - _GENERAL_KNOWN)]
    values: dict[str, dict[str, Any]] = {}
    if not pairs:
        raise DeribitPMEError("currency_pair: no currency pair")
    for pair, params in sorted(pairs.items()):
        where = f"currency_pair.{pair}"
        if not isinstance(params, dict):
            raise DeribitPMEError(f"{where}: not an object")
        base, _, quote = pair.partition("_")
        if not base or quote not in ("usd", "usdc", "usdt"):
            raise DeribitPMEError(f"{where}: not a <base>_usd pair")
        sym = base.upper()
        v = default_values()
        v.update(common)
        for key, ours in _PAIR_FIELDS.items():
            if key not in params:
                raise DeribitPMEError(f"{where}.{key}: missing")
            v[ours] = _num(params[key], f"{where}.{key}")
        values[sym] = v
        left = sorted(set(params) - set(_PAIR_FIELDS))
        if left:
            notes.append(f"{where}: {', '.join(left)} not used (no §14 counterpart)")
        cur = currencies.get(base)
        if isinstance(cur, dict) and cur:
            notes.append(
                f"currency.{base}: {', '.join(sorted(cur))} not used (Deribit's own dampener and risk add-ons)"
            )
        notes.append(
            f"{sym}: dte_floor_days, short_option_contingency, perp_contingency and the extended table "
            "keep riskgov's §14 defaults (Deribit does not publish them in model_params)"
        )
    ts = general.get("timestamp")
    return DeribitImport(values=values, notes=notes, timestamp_ms=int(ts) if isinstance(ts, int) else None)


def read_deribit_pme(source: str | Path) -> DeribitImport:
    """Parse Deribit's JSON exactly (floats as Decimal): ``source`` is the JSON text, or the
    path of a file, read within the input limits (:func:`riskgov.core.limits.load_json`:
    ``RISKGOV_MAX_JSON_BYTES``, ``RISKGOV_MAX_JSON_DEPTH``).

    Raises:
        DeribitPMEError: too large or too deep (naming the setting), not UTF-8, not JSON, or
            not Deribit's shape. OSError: the file cannot be read.
    """
    try:
        if isinstance(source, Path):
            doc = input_limits.load_json(source, parse_float=Decimal)
        else:
            doc = input_limits.load_json(source.encode("utf-8", "surrogatepass"), label="JSON", parse_float=Decimal)
    except input_limits.InputTooLarge as exc:
        raise DeribitPMEError(exc.detail) from None
    except UnicodeDecodeError as exc:
        raise DeribitPMEError(f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DeribitPMEError(f"not JSON: {exc}") from None
    return parse_deribit_pme(doc)
