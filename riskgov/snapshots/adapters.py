"""The one place snapshot rows become engine arrays (STYLE rule 3).

``snapshot_venue_state`` reads one account range of a snapshot — one query per table, no
ORM objects: PostgreSQL ``COPY (SELECT …) TO STDOUT`` parsed by pyarrow's CSV reader, other
databases ``values_list(...).iterator()`` — and maps it onto a parameter set by symbol.

Prices (``VenueState.asset_prices`` in the parameter set's asset order):

1. the snapshot's price where it has one;
2. otherwise the asset is not used by the snapshot (the import demands a price for every
   collateral asset and every base asset of a market with a position), so its price cannot
   change any number of the run; it still has to be a valid price for the engine, so it is
   the asset's latest daily close on or before ``taken_at`` (``markets.DailyClose``,
   preferred source first), or ``1.0`` for a stablecoin with no close;
3. a non-stable asset with neither is an error (``DomainError`` naming them).

Open interest (RISK_MODEL §3) is computed over the WHOLE snapshot from the exact long sizes
stored at import (``Snapshot.long_open_interest``) × the mark price, and set on the state, so
that account-range chunks of one run all OI-scale the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from riskgov.core.exceptions import DomainError
from riskgov.core.pgcopy import copy_out_fixed
from riskgov.engine.types import ParameterSet, Portfolio, VenueState
from riskgov.markets.models import Asset, DailyClose, Market
from riskgov.markets.selectors import DEFAULT_SOURCES
from riskgov.snapshots.models import (
    Snapshot,
    SnapshotAccount,
    SnapshotBalance,
    SnapshotOption,
    SnapshotOptionMark,
    SnapshotPosition,
    SnapshotPrice,
)
from riskgov.snapshots.reading import arrow_reader

__all__ = [
    "SnapshotOptions",
    "SnapshotState",
    "snapshot_account_count",
    "snapshot_venue_state",
    "state_arrays",
    "state_from_arrays",
]


@dataclass(frozen=True)
class SnapshotOptions:
    """The option side of an account range (RISK_MODEL §14, FORMATS "Options in a snapshot").

    Attributes:
        portfolio_mode: ``(n,)`` bool, accounts in ``portfolio`` margin mode (local order).
        as_of: the snapshot's ``taken_at`` as epoch seconds (``T`` is measured from it).
        option_account: ``(P,)`` int64 local account of each option row.
        option_underlying: ``(P,)`` int64 parameter-set asset index of the underlying.
        option_expiry: ``(P,)`` int64 epoch seconds.
        option_strike: ``(P,)`` float64 USD.
        option_is_call: ``(P,)`` bool.
        option_size: ``(P,)`` float64 signed base units.
        mark_underlying, mark_expiry, mark_strike, mark_is_call, mark_iv: ``(K,)`` every
            mark of the snapshot (``mark_iv`` a fraction).
    """

    portfolio_mode: np.ndarray
    as_of: int
    option_account: np.ndarray
    option_underlying: np.ndarray
    option_expiry: np.ndarray
    option_strike: np.ndarray
    option_is_call: np.ndarray
    option_size: np.ndarray
    mark_underlying: np.ndarray
    mark_expiry: np.ndarray
    mark_strike: np.ndarray
    mark_is_call: np.ndarray
    mark_iv: np.ndarray


_ITER_CHUNK = 100_000


@dataclass(frozen=True)
class SnapshotState:
    """An account range of a snapshot as engine input.

    Attributes:
        state: the ``VenueState``; its portfolio's accounts are ``0 .. n-1`` for the snapshot's
            accounts ``first_account .. first_account+n-1``; ``open_interest`` is the whole
            snapshot's (``(M,)`` USD).
        first_account: the snapshot ``idx`` of portfolio account 0.
        account_ids: ``(n,)`` object array of the venue's account id strings (``None`` when
            read ``with_ids=False``).
        position_ids: ``(P,)`` int64 ``SnapshotPosition`` pks, in the portfolio's position order
            (sorted by account, then pk).
        open_interest: ``(M,)`` float64 USD, same array as ``state.open_interest``.
        price_source: ``(A,)`` per parameter-set asset: ``"snapshot"``, ``"daily_close"`` or
            ``"stable"`` (see the module docstring).
        options: the range's portfolio-mode flags, options and the snapshot's marks; ``None``
            when the snapshot has no portfolio-mode account.
        pm: set by the health services when they split PM accounts off (``engine.pm_venue``).
    """

    state: VenueState
    first_account: int
    account_ids: np.ndarray | None
    position_ids: np.ndarray
    open_interest: np.ndarray
    price_source: tuple[str, ...] = ()
    options: SnapshotOptions | None = None
    pm: object | None = None

    @property
    def n_accounts(self) -> int:
        return self.state.portfolio.n_accounts


def snapshot_account_count(snapshot: Snapshot) -> int:
    """Number of accounts of the snapshot (accounts are ``idx`` 0..n-1)."""
    return int(snapshot.n_accounts)


# --------------------------------------------------------------------------- reading rows


def _copy_out(sql: str, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    """PostgreSQL ``COPY (sql) TO STDOUT (FORMAT csv)`` parsed by pyarrow."""
    sink = pa.BufferOutputStream()  # Arrow-owned: see riskgov.snapshots.reading.arrow_reader
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for block in copy:
            sink.write(block)
    if not sink.tell():
        return pa.table({n: pa.array([], type=types[n]) for n in names})
    return pacsv.read_csv(
        arrow_reader(sink.getvalue()),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )


def _rows(qs, names: list[str]) -> dict[str, list]:
    cols: dict[str, list] = {n: [] for n in names}
    for row in qs.values_list(*names).iterator(chunk_size=_ITER_CHUNK):
        for n, v in zip(names, row, strict=True):
            cols[n].append(v)
    return cols


def _read_unsorted(snapshot_id: int, lo: int, hi: int, *, with_ids: bool = True) -> tuple[dict, dict, dict]:
    """Rows of the accounts ``[lo, hi)``: account ids (when ``with_ids``), balances, positions.

    PostgreSQL: balances and positions by binary ``COPY`` of fixed-width columns
    (``core.pgcopy.copy_out_fixed``, NUMERIC cast to float8 by the server), account ids by a
    CSV ``COPY`` parsed by pyarrow; other databases: ``values_list(...).iterator()``.
    Without ids, ``accounts`` is ``{"idx": (0,), "account_id": (0,)}`` (finalize needs none).
    """
    sid, lo, hi = int(snapshot_id), int(lo), int(hi)
    if connection.vendor == "postgresql":
        q = connection.ops.quote_name
        where = f"snapshot_id = {sid} AND account_idx >= {lo} AND account_idx < {hi}"
        with connection.cursor() as cursor:
            balances = copy_out_fixed(
                cursor,
                f"SELECT account_idx::int8, asset_id::int8, amount::float8 "
                f"FROM {q(SnapshotBalance._meta.db_table)} WHERE {where}",
                [("account_idx", "bigint"), ("asset_id", "bigint"), ("amount", "double precision")],
            )
            positions = copy_out_fixed(
                cursor,
                "SELECT id::int8, account_idx::int8, market_id::int8, size::float8, entry_price::float8, "
                f"isolated, COALESCE(isolated_margin, 0)::float8 FROM {q(SnapshotPosition._meta.db_table)} "
                f"WHERE {where}",
                [
                    ("id", "bigint"),
                    ("account_idx", "bigint"),
                    ("market_id", "bigint"),
                    ("size", "double precision"),
                    ("entry_price", "double precision"),
                    ("isolated", "boolean"),
                    ("isolated_margin", "double precision"),
                ],
            )
        if not with_ids:
            return {"idx": np.zeros(0, np.int64), "account_id": np.zeros(0, dtype=object)}, balances, positions
        acc = _copy_out(
            f"SELECT idx, account_id FROM {q(SnapshotAccount._meta.db_table)} "
            f"WHERE snapshot_id = {sid} AND idx >= {lo} AND idx < {hi}",
            ["idx", "account_id"],
            {"idx": pa.int64(), "account_id": pa.string()},
        )
        accounts = {
            "idx": acc.column("idx").to_numpy(),
            "account_id": np.asarray(acc.column("account_id").to_numpy(zero_copy_only=False), dtype=object),
        }
        return accounts, balances, positions

    a = (
        _rows(SnapshotAccount.objects.filter(snapshot_id=sid, idx__gte=lo, idx__lt=hi), ["idx", "account_id"])
        if with_ids
        else {"idx": [], "account_id": []}
    )
    b = _rows(
        SnapshotBalance.objects.filter(snapshot_id=sid, account_idx__gte=lo, account_idx__lt=hi),
        ["account_idx", "asset_id", "amount"],
    )
    p = _rows(
        SnapshotPosition.objects.filter(snapshot_id=sid, account_idx__gte=lo, account_idx__lt=hi),
        ["id", "account_idx", "market_id", "size", "entry_price", "isolated", "isolated_margin"],
    )
    accounts = {"idx": np.asarray(a["idx"], dtype=np.int64), "account_id": np.asarray(a["account_id"], dtype=object)}
    balances = {
        "account_idx": np.asarray(b["account_idx"], dtype=np.int64),
        "asset_id": np.asarray(b["asset_id"], dtype=np.int64),
        "amount": np.asarray([float(x) for x in b["amount"]], dtype=np.float64),
    }
    positions = {
        "id": np.asarray(p["id"], dtype=np.int64),
        "account_idx": np.asarray(p["account_idx"], dtype=np.int64),
        "market_id": np.asarray(p["market_id"], dtype=np.int64),
        "size": np.asarray([float(x) for x in p["size"]], dtype=np.float64),
        "entry_price": np.asarray([float(x) for x in p["entry_price"]], dtype=np.float64),
        "isolated": np.asarray(p["isolated"], dtype=bool),
        "isolated_margin": np.asarray([0.0 if x is None else float(x) for x in p["isolated_margin"]], dtype=np.float64),
    }
    return accounts, balances, positions


def _take(cols: dict, order: np.ndarray) -> dict:
    return {name: col[order] for name, col in cols.items()}


def _read_range(snapshot_id: int, lo: int, hi: int, *, with_ids: bool = True) -> tuple[dict, dict, dict]:
    """``_read_unsorted``, each table in the engine's order: accounts by ``idx``, balances by
    account then asset, positions by account then pk (deterministic, whatever order the
    database returned the rows in)."""
    accounts, balances, positions = _read_unsorted(snapshot_id, lo, hi, with_ids=with_ids)
    return (
        _take(accounts, np.argsort(accounts["idx"], kind="stable")),
        _take(balances, np.lexsort((balances["asset_id"], balances["account_idx"]))),
        _take(positions, np.lexsort((positions["id"], positions["account_idx"]))),
    )


#: accounts read per block when a whole snapshot is read without ids (finalize): bounds the
#: COPY buffers to one block's rows whatever the venue's size
READ_BLOCK_ACCOUNTS = 1_000_000


def _read_blocks(snapshot_id: int, lo: int, hi: int, *, with_ids: bool) -> tuple[dict, dict, dict]:
    """``_read_range`` over ``[lo, hi)`` in blocks of ``READ_BLOCK_ACCOUNTS`` accounts, the
    blocks' columns concatenated (account order is kept: each block is a later account range)."""
    if hi - lo <= READ_BLOCK_ACCOUNTS:
        return _read_range(snapshot_id, lo, hi, with_ids=with_ids)
    parts = [
        _read_range(snapshot_id, a, min(hi, a + READ_BLOCK_ACCOUNTS), with_ids=with_ids)
        for a in range(lo, hi, READ_BLOCK_ACCOUNTS)
    ]
    out = []
    for k in range(3):
        cols = {}
        for name in list(parts[0][k]):
            cols[name] = np.concatenate([part[k].pop(name) for part in parts])
        out.append(cols)
    return out[0], out[1], out[2]


# --------------------------------------------------------------------------- mapping


def _index_map(db_ids: dict[int, str], symbols: tuple[str, ...]) -> np.ndarray:
    """A lookup table ``db id -> parameter-set index`` (-1 where absent)."""
    size = max(db_ids, default=0) + 1
    table = np.full(size, -1, dtype=np.int64)
    where = {s: i for i, s in enumerate(symbols)}
    for pk, sym in db_ids.items():
        table[pk] = where.get(sym, -1)
    return table


def _prices(snapshot: Snapshot, params: ParameterSet, used: set[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    symbols = params.assets.symbols
    given = {
        s: float(p) for s, p in SnapshotPrice.objects.filter(snapshot=snapshot).values_list("asset__symbol", "price")
    }
    out = np.full(len(symbols), np.nan)
    source = ["snapshot"] * len(symbols)
    todo = [s for s in symbols if s not in given]
    missing_used = sorted(s for s in todo if s in used)
    if missing_used:  # cannot happen for an imported snapshot; guard anyway
        raise DomainError(f"snapshot {snapshot.pk} has no price for {', '.join(missing_used)}")
    closes: dict[str, float] = {}
    if todo:
        rank = {s: i for i, s in enumerate(DEFAULT_SOURCES)}
        rows = (
            DailyClose.objects.filter(asset__symbol__in=todo, date__lte=snapshot.taken_at.date())
            .order_by("asset__symbol", "-date")
            .values_list("asset__symbol", "source", "date", "close")
        )
        best: dict[str, tuple] = {}
        for sym, src, date, close in rows:
            key = (-date.toordinal(), rank.get(src, len(rank)))
            if sym not in best or key < best[sym][0]:
                best[sym] = (key, float(close))
        closes = {s: v[1] for s, v in best.items()}
    unpriced = []
    for i, s in enumerate(symbols):
        if s in given:
            out[i] = given[s]
        elif s in closes:
            out[i], source[i] = closes[s], "daily_close"
        elif bool(params.assets.stable[i]):
            out[i], source[i] = 1.0, "stable"
        else:
            unpriced.append(s)
    if unpriced:
        raise DomainError(
            f"no price for {', '.join(unpriced)}: not in snapshot {snapshot.pk} and no daily close on or before "
            f"{snapshot.taken_at:%Y-%m-%d}",
            extra={"assets": unpriced},
        )
    return out, tuple(source)


@dataclass(frozen=True)
class _SnapshotFacts:
    """What every range read of a snapshot asks of the whole snapshot: the assets its balances
    hold (db ids) and whether any account is in portfolio mode."""

    balance_assets: frozenset[int]
    has_portfolio: bool


#: ``_facts`` per (database, snapshot pk, sha256, created_at): an imported snapshot's rows never
#: change, so the whole-snapshot scans run once per process, not once per chunk
_FACTS: dict[tuple, _SnapshotFacts] = {}
_FACTS_MAX = 64


def _facts(snapshot: Snapshot) -> _SnapshotFacts:
    key = (connection.settings_dict.get("NAME"), snapshot.pk, snapshot.sha256, snapshot.created_at)
    facts = _FACTS.get(key)
    if facts is None:
        assets = SnapshotBalance.objects.filter(snapshot=snapshot).values_list("asset_id", flat=True).distinct()
        facts = _SnapshotFacts(
            balance_assets=frozenset(assets.order_by()),
            has_portfolio=SnapshotAccount.objects.filter(snapshot=snapshot, portfolio=True).exists(),
        )
        if len(_FACTS) >= _FACTS_MAX:
            _FACTS.clear()
        _FACTS[key] = facts
    return facts


def _symbols_checked(
    snapshot: Snapshot, params: ParameterSet
) -> tuple[dict[int, str], dict[int, str], set[str], dict[str, str]]:
    """The symbols the whole snapshot uses (not just one range: every chunk fails alike),
    checked against ``params``. Returns ``(market symbol by pk, asset symbol by pk, assets
    held, base asset of each market used)``.

    Raises:
        DomainError: markets or assets missing from ``params`` (names all of them).
    """
    market_symbols = dict(Market.objects.values_list("pk", "symbol"))
    asset_symbols = dict(Asset.objects.values_list("pk", "symbol"))
    used_markets = set(snapshot.long_open_interest)
    used_assets = {asset_symbols[a] for a in _facts(snapshot).balance_assets}
    base_of = dict(Market.objects.filter(symbol__in=used_markets).values_list("symbol", "base_asset__symbol"))
    missing_markets = sorted(used_markets - set(params.markets.symbols))
    missing_assets = sorted(used_assets - set(params.assets.symbols))
    if missing_markets or missing_assets:
        parts = []
        if missing_markets:
            parts.append(f"markets {', '.join(missing_markets)}")
        if missing_assets:
            parts.append(f"assets {', '.join(missing_assets)}")
        raise DomainError(
            f"snapshot {snapshot.pk} uses symbols missing from the parameter set: {'; '.join(parts)}",
            extra={"missing_markets": missing_markets, "missing_assets": missing_assets},
        )
    return market_symbols, asset_symbols, used_assets, base_of


def snapshot_venue_state(
    *,
    snapshot: Snapshot,
    params: ParameterSet,
    first_account: int = 0,
    last_account: int | None = None,
    with_ids: bool = True,
) -> SnapshotState:
    """Engine input for the accounts ``[first_account, last_account)`` of ``snapshot``.

    Args:
        snapshot: an imported snapshot.
        params: the parameter set the run evaluates against (markets/assets matched by symbol).
        first_account: first account ``idx`` (inclusive).
        last_account: end ``idx`` (exclusive); ``None`` = all accounts.
        with_ids: read the account id strings (``False``: ``account_ids`` is ``None``; the
            finalize of a run reads the whole venue so). A range of more than
            ``READ_BLOCK_ACCOUNTS`` accounts is read block by block, so the read holds the
            engine arrays and one block's buffers.

    Returns:
        ``SnapshotState`` with rebased account indices, rows sorted by account (balances then
        by asset, positions then by pk).

    Raises:
        DomainError: a market or asset used by the snapshot is missing from ``params`` (names
            all of them), a bad range, or a price is unavailable (see the module docstring).
    """
    n_total = int(snapshot.n_accounts)
    last = n_total if last_account is None else int(last_account)
    first = int(first_account)
    if not 0 <= first <= last <= n_total:
        raise DomainError(f"account range [{first}, {last}) is not within [0, {n_total}]")

    market_symbols, asset_symbols, used_assets, base_of = _symbols_checked(snapshot, params)
    prices, price_source = _prices(snapshot, params, used_assets | set(base_of.values()))

    # Whole-snapshot open interest (§3): exact long sizes × mark price.
    long_base = np.zeros(params.markets.n)
    for sym, total in snapshot.long_open_interest.items():
        long_base[params.markets.index(sym)] = float(Decimal(total))
    open_interest = long_base * prices[params.markets.base_asset]

    accounts, balances, positions = _read_blocks(snapshot.pk, first, last, with_ids=with_ids)
    market_map = _index_map(market_symbols, params.markets.symbols)
    asset_map = _index_map(asset_symbols, params.assets.symbols)
    portfolio = Portfolio(
        n_accounts=last - first,
        balance_account=balances.pop("account_idx") - first,
        balance_asset=asset_map[balances.pop("asset_id")],
        balance_amount=balances.pop("amount"),
        position_account=positions.pop("account_idx") - first,
        position_market=market_map[positions.pop("market_id")],
        size=positions.pop("size"),
        entry_price=positions.pop("entry_price"),
        isolated=positions.pop("isolated"),
        isolated_margin=positions.pop("isolated_margin"),
    )
    state = VenueState(
        portfolio=portfolio,
        asset_prices=prices,
        insurance_fund=float(snapshot.insurance_fund_usd),
        open_interest=open_interest,
    )
    return SnapshotState(
        state=state,
        first_account=first,
        account_ids=accounts["account_id"] if with_ids else None,
        position_ids=positions["id"],
        open_interest=open_interest,
        price_source=price_source,
        options=_options(snapshot, first, last, asset_map),
    )


def _options(snapshot: Snapshot, first: int, last: int, asset_map: np.ndarray) -> SnapshotOptions | None:
    """The range's portfolio flags and options, the snapshot's marks (``None``: no PM account)."""
    if not _facts(snapshot).has_portfolio:
        return None
    pm_idx = np.asarray(
        SnapshotAccount.objects.filter(snapshot=snapshot, portfolio=True, idx__gte=first, idx__lt=last).values_list(
            "idx", flat=True
        ),
        dtype=np.int64,
    )
    mode = np.zeros(last - first, dtype=bool)
    mode[pm_idx - first] = True
    rows = list(
        SnapshotOption.objects.filter(snapshot=snapshot, account_idx__gte=first, account_idx__lt=last)
        .order_by("account_idx", "pk")
        .values_list("account_idx", "underlying_id", "expiry", "strike", "is_call", "size")
    )
    marks = list(
        SnapshotOptionMark.objects.filter(snapshot=snapshot).values_list(
            "underlying_id", "expiry", "strike", "is_call", "mark_iv"
        )
    )

    def col(data: list, i: int, dtype, f=lambda v: v) -> np.ndarray:
        return np.asarray([f(r[i]) for r in data], dtype=dtype)

    def epoch(t) -> int:
        return int(t.timestamp())

    und = col(rows, 1, np.int64)
    m_und = col(marks, 0, np.int64)
    return SnapshotOptions(
        portfolio_mode=mode,
        as_of=int(snapshot.taken_at.timestamp()),
        option_account=col(rows, 0, np.int64) - first,
        option_underlying=asset_map[und] if und.size else und,
        option_expiry=col(rows, 2, np.int64, epoch),
        option_strike=col(rows, 3, np.float64, float),
        option_is_call=col(rows, 4, bool),
        option_size=col(rows, 5, np.float64, float),
        mark_underlying=asset_map[m_und] if m_und.size else m_und,
        mark_expiry=col(marks, 1, np.int64, epoch),
        mark_strike=col(marks, 2, np.float64, float),
        mark_is_call=col(marks, 3, bool),
        mark_iv=col(marks, 4, np.float64, float),
    )


# --------------------------------------------------------------------------- chunk copies

_PORTFOLIO = (
    "balance_account",
    "balance_asset",
    "balance_amount",
    "position_account",
    "position_market",
    "size",
    "entry_price",
    "isolated",
    "isolated_margin",
)
_OPTION_ROWS = (
    "option_account",
    "option_underlying",
    "option_expiry",
    "option_strike",
    "option_is_call",
    "option_size",
)
_OPTION_MARKS = ("mark_underlying", "mark_expiry", "mark_strike", "mark_is_call", "mark_iv")


def state_arrays(snap: SnapshotState) -> dict[str, np.ndarray]:
    """An account range's ``SnapshotState`` (as ``snapshot_venue_state`` returned it, before
    any PM split) as flat named arrays — what a health-run chunk keeps so that finalize reads
    the venue back without PostgreSQL (``state_from_arrays``). Account ids are left out.

    Returns:
        ``{name: array}``: the portfolio's columns (local account indices), ``position_ids``,
        ``asset_prices``, ``open_interest`` (USD), ``price_source`` (str), the scalars
        ``first_account``, ``n_accounts``, ``insurance_fund`` as 0-d arrays and, when the
        snapshot has portfolio-mode accounts, ``portfolio_mode``, ``as_of``, the option rows
        and the marks (``SnapshotOptions`` field names).
    """
    st, pf = snap.state, snap.state.portfolio
    out: dict[str, np.ndarray] = {name: np.asarray(getattr(pf, name)) for name in _PORTFOLIO}
    out |= {
        "first_account": np.asarray(snap.first_account, dtype=np.int64),
        "n_accounts": np.asarray(pf.n_accounts, dtype=np.int64),
        "insurance_fund": np.asarray(st.insurance_fund, dtype=np.float64),
        "asset_prices": np.asarray(st.asset_prices, dtype=np.float64),
        "open_interest": np.asarray(snap.open_interest, dtype=np.float64),
        "price_source": np.asarray(snap.price_source, dtype=str),
        "position_ids": np.asarray(snap.position_ids, dtype=np.int64),
    }
    o = snap.options
    if o is not None:
        out["portfolio_mode"] = np.asarray(o.portfolio_mode, dtype=bool)
        out["as_of"] = np.asarray(o.as_of, dtype=np.int64)
        out |= {name: np.asarray(getattr(o, name)) for name in (*_OPTION_ROWS, *_OPTION_MARKS)}
    return out


def state_from_arrays(parts: Sequence[Mapping[str, np.ndarray]]) -> SnapshotState:
    """The ``SnapshotState`` of consecutive account ranges joined (``state_arrays`` of each,
    in account order): the same arrays ``snapshot_venue_state`` reads for the whole range,
    without account ids (``account_ids`` ``None``). Prices, open interest, the fund and the
    marks are the whole snapshot's, so the first part's are taken.

    Args:
        parts: one mapping per range, ``name → array`` as ``state_arrays`` gives (a dict, or an
            open ``numpy.load`` ``.npz``: each column is then read from every part and joined
            before the next, so the venue is held once plus one column); extra keys ignored.

    Raises:
        ValueError: no part, or the parts are not consecutive ranges.
    """
    if not parts:
        raise ValueError("no account range to join")
    first = int(parts[0]["first_account"])
    at = first
    for p in parts:
        if int(p["first_account"]) != at:
            raise ValueError(f"account ranges are not consecutive: expected {at}, got {int(p['first_account'])}")
        at += int(p["n_accounts"])
    offsets = [int(p["first_account"]) - first for p in parts]

    def join(name: str, shift: bool = False) -> np.ndarray:
        return np.concatenate([p[name] + off if shift else p[name] for p, off in zip(parts, offsets, strict=True)])

    head = parts[0]
    portfolio = Portfolio(
        n_accounts=at - first,
        **{name: join(name, shift=name in ("balance_account", "position_account")) for name in _PORTFOLIO},
    )
    prices = np.array(head["asset_prices"], dtype=np.float64)
    oi = np.array(head["open_interest"], dtype=np.float64)
    options = None
    if "portfolio_mode" in head:
        options = SnapshotOptions(
            portfolio_mode=join("portfolio_mode"),
            as_of=int(head["as_of"]),
            **{name: join(name, shift=name == "option_account") for name in _OPTION_ROWS},
            **{name: np.array(head[name]) for name in _OPTION_MARKS},
        )
    return SnapshotState(
        state=VenueState(
            portfolio=portfolio, asset_prices=prices, insurance_fund=float(head["insurance_fund"]), open_interest=oi
        ),
        first_account=first,
        account_ids=None,
        position_ids=join("position_ids"),
        open_interest=oi,
        price_source=tuple(str(s) for s in head["price_source"]),
        options=options,
    )
