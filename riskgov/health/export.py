"""``riskgov.health/2`` writer (FORMATS.md "Health run output"), streamed.

Keys and their order: ``riskgov.health/1``'s (``format, snapshot, parameters, totals,
accounts, positions, scenarios, tail``) then ``tails`` (one object per scenario family,
§10), ``recommendations`` (per market and bracket, :func:`recommendation_rows`) and, for a
what-if run compared with the active set, ``impact`` (§15). Every scenario row adds
``family``, ``steps``, ``step_minutes``, ``interpolated_share`` and ``worst_step``; ``tail``
equals the headline family's entry of ``tails`` (``path_1d`` when there are path
scenarios). ``format=1`` writes the old ``riskgov.health/1`` document; ``accounts``/``positions`` are left out when
``include_accounts=False`` (very large runs), the other keys never are. ``null`` stands for
"none" (no liquidation/bankruptcy price) and for infinity in ratios. Accounts are in
snapshot order (``idx``), positions by account then position id, scenarios in run order.
The document is produced piece by piece, so a 1M-account run is written without holding
it in memory: accounts and positions stream from the run's Parquet result files one row
group at a time (``health.services.results_file``; older runs: from their database rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, TextIO

from riskgov.engine.model_flags import edition
from riskgov.health.models import AccountResult, HealthRun, PositionResult
from riskgov.health.selectors import run_scenarios, run_tail, run_totals
from riskgov.health.services import results_file

FORMAT = "riskgov.health/2"
FORMAT_1 = "riskgov.health/1"
#: the keys of one ``tails`` entry (FORMATS.md ``riskgov.health/2``)
TAIL_KEYS = ("family", "alpha", "scenarios", "var_usd", "es_usd", "cover2_usd", "coverage_at_es")
_BATCH = 20_000
#: the scenario columns the document reads (rows as values, not model instances)
_SCENARIO_COLUMNS = (
    "name",
    "kind",
    "liquidatable_accounts",
    "bankrupt_accounts",
    "shortfall_usd",
    "insurance_fund_after_usd",
    "adl_usd",
    "coverage_ratio",
    "family",
    "steps",
    "step_minutes",
    "interpolated_share",
    "worst_step",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))


def _iso(dt: Any) -> str:
    return dt.isoformat().replace("+00:00", "Z")


_ACCOUNT_KEYS = (
    "account_id",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "margin_ratio",
    "liquidatable",
    "bankrupt",
    "shortfall_usd",
)
_POSITION_KEYS = (
    "account_id",
    "market",
    "size",
    "notional_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidation_price",
    "bankruptcy_price",
)


def _accounts(run: HealthRun) -> Iterator[dict[str, Any]]:
    """Account objects from the run's result files (row group by row group), or from the
    database for runs stored before the files existed."""
    if results_file.has_files(run):
        for row in results_file.iter_rows(run, "accounts", list(_ACCOUNT_KEYS)):
            yield dict(zip(_ACCOUNT_KEYS, row, strict=True))
        return
    yield from _accounts_db(run)


def _positions(run: HealthRun) -> Iterator[dict[str, Any]]:
    """Position objects (by account, then position id), files first as ``_accounts``."""
    if results_file.has_files(run):
        for row in results_file.iter_rows(run, "positions", list(_POSITION_KEYS)):
            yield dict(zip(_POSITION_KEYS, row, strict=True))
        return
    yield from _positions_db(run)


def _accounts_db(run: HealthRun) -> Iterator[dict[str, Any]]:
    rows = (
        AccountResult.objects.filter(run=run)
        .order_by("account_idx")
        .values_list(
            "account_id",
            "equity_usd",
            "initial_margin_usd",
            "maintenance_margin_usd",
            "margin_ratio",
            "liquidatable",
            "bankrupt",
            "shortfall_usd",
        )
    )
    for aid, eq, im, mm, ratio, liq, bk, short in rows.iterator(chunk_size=_BATCH):
        yield {
            "account_id": aid,
            "equity_usd": eq,
            "initial_margin_usd": im,
            "maintenance_margin_usd": mm,
            "margin_ratio": ratio,
            "liquidatable": liq,
            "bankrupt": bk,
            "shortfall_usd": short,
        }


def _positions_db(run: HealthRun) -> Iterator[dict[str, Any]]:
    """Positions with their account id, by walking accounts and positions both sorted by idx."""
    ids = AccountResult.objects.filter(run=run).order_by("account_idx").values_list("account_idx", "account_id")
    id_iter = ids.iterator(chunk_size=_BATCH)
    cur_idx, cur_id = -1, ""
    rows = (
        PositionResult.objects.filter(run=run)
        .order_by("account_idx", "position_id")
        .values_list(
            "account_idx",
            "market__symbol",
            "size",
            "notional_usd",
            "initial_margin_usd",
            "maintenance_margin_usd",
            "liquidation_price",
            "bankruptcy_price",
        )
    )
    for idx, market, size, notional, im, mm, liq, bk in rows.iterator(chunk_size=_BATCH):
        while cur_idx < idx:
            cur_idx, cur_id = next(id_iter)
        yield {
            "account_id": cur_id,
            "market": market,
            "size": size,
            "notional_usd": notional,
            "initial_margin_usd": im,
            "maintenance_margin_usd": mm,
            "liquidation_price": liq,
            "bankruptcy_price": bk,
        }


#: characters per piece of the streamed document (one piece per row made a 3,200-scenario
#: document 3,200 writes to the socket)
_PIECE = 1 << 16


def _array(name: str, items: Iterator[dict[str, Any]]) -> Iterator[str]:
    parts, size, sep = [f', "{name}": ['], 0, "\n  "
    for item in items:
        parts.append(sep + _dumps(item))
        size += len(parts[-1])
        sep = ",\n  "
        if size >= _PIECE:
            yield "".join(parts)
            parts, size = [], 0
    parts.append("]")
    yield "".join(parts)


def run_tails(run: HealthRun) -> list[dict[str, Any]]:
    """The ``tails`` list of a run (FORMATS.md keys only), one entry per family; a run
    published before families has one ``gap`` entry equal to its ``tail``."""
    stored = list(run.tails or [])
    if not stored:
        return [{"family": "gap", **run_tail(run)}]
    return [{k: t.get(k) for k in TAIL_KEYS} for t in stored]


def health_json_chunks(run: HealthRun, *, include_accounts: bool = True, version: int = 2) -> Iterator[str]:
    """The ``riskgov.health/2`` (or ``/1``) document of a published run, as text pieces.

    Raises:
        ValueError: the run is not published.
    """
    if run.published_at is None:
        raise ValueError(f"health run {run.pk} is not published")
    snap = run.snapshot
    head = {
        "format": FORMAT if version == 2 else FORMAT_1,
        "snapshot": {"venue": snap.venue, "taken_at": _iso(snap.taken_at)},
        "parameters": {"name": run.parameters_name, "version": run.parameters_version},
        "totals": run_totals(run),
    }
    yield _dumps(head)[:-1]  # leave the object open
    if include_accounts:
        yield from _array("accounts", _accounts(run))
        yield from _array("positions", _positions(run))
    scenarios = (
        {
            "name": r.name,
            "kind": r.kind,
            "liquidatable_accounts": r.liquidatable_accounts,
            "bankrupt_accounts": r.bankrupt_accounts,
            "shortfall_usd": r.shortfall_usd,
            "insurance_fund_after_usd": r.insurance_fund_after_usd,
            "adl_usd": r.adl_usd,
            "coverage_ratio": r.coverage_ratio,
            **(
                {
                    "family": r.family,
                    "steps": r.steps,
                    "step_minutes": r.step_minutes,
                    "interpolated_share": r.interpolated_share,
                    "worst_step": r.worst_step,
                }
                if version == 2
                else {}
            ),
        }
        for r in (SimpleNamespace(**v) for v in run_scenarios(run=run).values(*_SCENARIO_COLUMNS).iterator(_BATCH))
    )
    yield from _array("scenarios", scenarios)
    if version != 2:
        yield ', "tail": ' + _dumps(run_tail(run)) + "}\n"
        return
    yield ', "tail": ' + _dumps(run_tail(run))
    yield ', "tails": ' + _dumps(run_tails(run))
    yield ', "recommendations": ' + _dumps(recommendation_rows(run.recommendations or []))
    if run.impact:
        yield ', "impact": ' + _dumps(run.impact)
    yield "}\n"


#: Keys of one ``recommendations`` row of ``riskgov.health/2`` (FORMATS.md), in order.
RECOMMENDATION_KEYS = (
    "market",
    "bracket",
    "mmf_rec",
    "imf_rec",
    "q_recent",
    "q_long",
    "horizon_minutes",
    "resolution",
    "n",
    "exceedances",
    "expected",
    "lr",
    "flagged",
)


def recommendation_rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FORMATS.md ``riskgov.health/2`` ``recommendations``: one row per market and bracket with
    ``mmf_rec, imf_rec, q_recent, q_long, horizon_minutes, resolution`` and the backtest of the
    market's MMF_1 (``n, exceedances, expected, lr, flagged``; the same on each bracket row of
    a market), then ``verdict`` (the sentence) and ``note``.

    A market with no history is one row with ``bracket`` and the figures ``null`` and its
    ``note``. A run stored before the liquidation horizon (first edition, ``h1``/``h3``) has
    no figures at a horizon in minutes: one row per market, figures ``null``, ``note`` saying
    so (its stored JSON is unchanged and still shown by the pages).
    """
    rows: list[dict[str, Any]] = []
    for rec in recs:
        if edition(rec) < 2:
            rows.append(
                {
                    **dict.fromkeys(RECOMMENDATION_KEYS),
                    "market": rec.get("market"),
                    "flagged": None,
                    "verdict": "",
                    "note": "first-edition 1-/3-day recommendation (stored before the liquidation horizon)",
                }
            )
            continue
        bt = rec.get("backtest") or {}
        market_level = {
            "n": bt.get("n"),
            "exceedances": bt.get("exceedances"),
            "expected": bt.get("expected"),
            "lr": bt.get("lr"),
            "flagged": bool(rec.get("flagged")),
        }
        brackets = rec.get("brackets") or []
        if not brackets:
            rows.append(
                {
                    **dict.fromkeys(RECOMMENDATION_KEYS),
                    "market": rec.get("market"),
                    "horizon_minutes": rec.get("horizon_minutes"),
                    "flagged": False,
                    "verdict": "",
                    "note": rec.get("note", "no history"),
                }
            )
            continue
        for b in brackets:
            rows.append(
                {
                    "market": rec.get("market"),
                    "bracket": b.get("bracket"),
                    **{k: b.get(k) for k in ("mmf_rec", "imf_rec", "q_recent", "q_long", "horizon_minutes")},
                    "resolution": b.get("resolution"),
                    **market_level,
                    "verdict": rec.get("verdict", ""),
                    "note": rec.get("note", ""),
                }
            )
    return rows


def write_health_json(run: HealthRun, fp: TextIO, *, include_accounts: bool = True, version: int = 2) -> None:
    """Write the run's ``riskgov.health/2`` (or ``/1``) document to an open text file."""
    for piece in health_json_chunks(run, include_accounts=include_accounts, version=version):
        fp.write(piece)


def health_document(run: HealthRun, *, include_accounts: bool = True, version: int = 2) -> dict[str, Any]:
    """The document as a dict (small runs, tests)."""
    return json.loads("".join(health_json_chunks(run, include_accounts=include_accounts, version=version)))
