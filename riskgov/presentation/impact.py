"""A proposal's frozen impact (``riskgov.impact/1``, RISK_MODEL §15) for people: both sides of
the trade-off as rows of formatted text, ready for a template to loop over or a Dash table.

Pure: the frozen document in, an :class:`ImpactView` out. Nothing is recomputed — every
figure is read from the document the impact run froze (``governance.impact.impact_document``);
the only arithmetic is "proposed − current" for a side-by-side row whose document gives both
sides but no difference. Money is USD (``$1,234``), fractions and ratios are percent,
counts have separators, changes are signed, a missing figure is ``—``, an infinite coverage
is ``∞`` (RISK_MODEL §1, §10).

The sections, each empty when the document lacks it (older documents are shown with what
they hold):

* ``summary`` — totals and tail of the current and proposed runs side by side (the keys of
  ``fields.OVERVIEW_KEYS`` first);
* ``cost`` — §15 cost to traders: key figures, ΔIM/ΔMM per market, ΔIM/ΔMM of the
  portfolio-margin accounts per underlying (§14), max leverage per bracket, the newly
  liquidatable accounts (a sample, linked when the caller can link them);
* ``protection`` — §15 protection of the venue per scenario family (§10), every figure
  labelled with its family ("ES 99 %, 1-day paths");
* ``scenarios`` — the standard scenarios' shortfall before and after;
* ``frontiers`` — per changed market the (MM, ES of 1-day paths) points for the bracket
  table × multiplier, current and proposed marked, and the chart as inline SVG;
* ``other`` — anything else the document holds, formatted by its field kind (never JSON).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskgov.presentation import fields, formats
from riskgov.presentation.exports import csv_text
from riskgov.presentation.families import FAMILY_LABELS, family_label
from riskgov.presentation.figures.health import frontier_figure
from riskgov.presentation.figures.svg import scatter_svg

__all__ = [
    "FAMILY_LABELS",
    "AccountRef",
    "BracketLeverage",
    "Figure",
    "FamilyProtection",
    "Frontier",
    "FrontierPoint",
    "ImpactView",
    "MarketCost",
    "UnderlyingCost",
    "Row",
    "ScenarioRow",
    "family_label",
    "frontier_csv",
    "impact_view",
]

#: what each family is, for its caption (RISK_MODEL §9)
FAMILY_NOTES = {
    "gap": "the whole move at once: uniform shocks and historical windows",
    "trend": "uniform moves reached in 24 hourly steps",
    "path_1d": "every 1-day window of hourly prices, 24 steps",
    "path_3d": "every 3-day window of hourly prices, 72 steps",
}
#: the §15 protection measures of one family: (label, stored key, field kind)
PROTECTION_MEASURES = (
    ("VaR", "var_usd", fields.MONEY),
    ("ES", "es_usd", fields.MONEY),
    ("Mean shortfall", "mean_shortfall_usd", fields.MONEY),
    ("Worst shortfall", "worst_shortfall_usd", fields.MONEY),
    ("Coverage at ES", "coverage_at_es", fields.RATIO),
    ("Mean ADL", "mean_adl_usd", fields.MONEY),
    ("Mean bankrupt accounts", "mean_bankrupt_accounts", fields.NUMBER),
)
#: keys of the document shown by a section of their own (the rest go to ``other``)
KNOWN_KEYS = frozenset(
    {
        "format",
        "snapshot",
        "current",
        "proposed",
        "note",
        "impact_note",
        "error",
        "changed_markets",
        "changed_underlyings",
        "cost",
        "protection",
        "frontier",
        "scenarios",
        "newly_liquidatable_accounts",
        "newly_liquidatable_sample",
        "no_longer_liquidatable_accounts",
        "delta_initial_margin_usd",
        "delta_maintenance_margin_usd",
        "delta_shortfall_usd",
    }
)
_PAIRS = (("current", "proposed"), ("before", "after"), ("baseline", "proposed"))
#: columns of the frontier CSV (raw values, USD)
FRONTIER_COLUMNS = ("market", "table", "multiplier", "mm_usd", "es_usd", "marked")


@dataclass(frozen=True)
class Figure:
    """One key figure: ``label`` and its formatted ``value``, and an element ``key``."""

    key: str
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One measure side by side: formatted ``current``, ``proposed`` and ``delta`` (proposed −
    current, signed; ``""`` when there is no difference to state); ``up`` when it rose."""

    label: str
    current: str
    proposed: str
    delta: str
    up: bool | None = None
    key: str = ""


@dataclass(frozen=True)
class MarketCost:
    """§15 cost in one market: ΔIM and ΔMM (signed USD); ``up`` when MM rose."""

    market: str
    delta_im: str
    delta_mm: str
    up: bool | None = None


@dataclass(frozen=True)
class UnderlyingCost:
    """§15 cost of the portfolio-margin accounts on one underlying (§14): risk units (count),
    ΔIM and ΔMM (signed USD); ``up`` when MM rose."""

    underlying: str
    risk_units: str
    delta_im: str
    delta_mm: str
    up: bool | None = None


@dataclass(frozen=True)
class BracketLeverage:
    """Max leverage (``1/IMF``, §2) of one bracket, from its notional floor, now and proposed."""

    market: str
    floor: str
    current: str
    proposed: str


@dataclass(frozen=True)
class AccountRef:
    """A newly liquidatable account: its id and the page that shows it (``""`` if none)."""

    account_id: str
    url: str = ""


@dataclass(frozen=True)
class FamilyProtection:
    """§15 protection of one scenario family: its label, caption and measure rows."""

    family: str
    label: str
    caption: str
    scenarios: str
    rows: list[Row]

    def by_key(self) -> dict[str, Row]:
        """The measure rows by stored key (``es_usd``, ``var_usd``, …)."""
        return {r.key: r for r in self.rows}


@dataclass(frozen=True)
class ScenarioRow:
    """One standard scenario before and after (formatted)."""

    name: str
    family: str
    before: str
    after: str
    delta: str
    up: bool | None
    coverage_before: str = formats.MISSING
    coverage_after: str = formats.MISSING
    liquidated_before: str = formats.MISSING
    liquidated_after: str = formats.MISSING


@dataclass(frozen=True)
class FrontierPoint:
    """One frontier point: the table (``×1.5``, ``current``, ``proposed``), MM and ES (formatted),
    ``mark`` (``"current"``, ``"proposed"``, both or ``""``)."""

    table: str
    mm: str
    es: str
    mark: str = ""


@dataclass(frozen=True)
class Frontier:
    """§15 frontier of one changed market: title, points (with current/proposed), the chart."""

    market: str
    title: str
    family: str
    es_label: str
    accounts: str
    points: list[FrontierPoint]
    svg: str


@dataclass
class ImpactView:
    """Everything a page shows of one frozen impact (see the module docstring).

    ``state`` is ``"pending"`` (no document yet: ``pending`` says why), ``"failed"`` (the
    impact run failed: ``error``) or ``"ready"``; ``notes`` are the document's plain-words
    notes (no current run to compare with, a §15 comparison that could not be made).
    """

    state: str
    pending: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)
    source: str = ""
    changed_markets: str = ""
    changed_underlyings: str = ""
    headline: list[Figure] = field(default_factory=list)
    summary: list[Row] = field(default_factory=list)
    cost: list[Figure] = field(default_factory=list)
    cost_markets: list[MarketCost] = field(default_factory=list)
    cost_underlyings: list[UnderlyingCost] = field(default_factory=list)
    leverage: list[BracketLeverage] = field(default_factory=list)
    newly_liquidatable: list[AccountRef] = field(default_factory=list)
    newly_liquidatable_total: str = ""
    protection: list[FamilyProtection] = field(default_factory=list)
    scenarios: list[ScenarioRow] = field(default_factory=list)
    frontiers: list[Frontier] = field(default_factory=list)
    other: list[Row] = field(default_factory=list)


# --- formatting helpers -----------------------------------------------------------------------
def _level(alpha: Any) -> str:
    """``0.99`` → ``99 %`` (the VaR/ES level, §10; 99 % when the document omits it)."""
    return formats.level(0.99 if formats.to_float(alpha) is None else alpha)


def _num(value: Any) -> float | None:
    return formats.to_float(value)


def _fmt(kind: str, value: Any) -> str:
    if kind == fields.NUMBER:
        return formats.number(value, 2)
    return fields.format_value(kind, value)


def _delta(kind: str, value: Any) -> str:
    """A change, signed; a change too small to show is ``0`` without a sign; ``—`` if missing."""
    x = _num(value)
    if x is None:
        return formats.MISSING
    if math.isinf(x):
        return formats.INFINITE if x > 0 else f"-{formats.INFINITE}"
    if kind == fields.NUMBER:
        x = 0.0 if abs(x) < 0.005 else x
        return formats.number(x, 2) if x == 0 else formats.number(x, 2, signed=True)
    tiny = {fields.MONEY: 0.005, fields.COUNT: 0.5, fields.RATIO: 0.0005, fields.SHARE: 0.00005}.get(kind, 0.0)
    if abs(x) < tiny or x == 0:
        return fields.format_value(kind, 0)
    return fields.format_value(kind, x, signed=True)


def _up(value: Any) -> bool | None:
    x = _num(value)
    return None if x is None or abs(x) < 1e-9 else x > 0


def _diff(a: Any, b: Any) -> float | None:
    x, y = _num(a), _num(b)
    if x is None or y is None or math.isinf(x) or math.isinf(y):
        return None
    return y - x


def _row(label: str, kind: str, cur: Any, new: Any, delta: Any = None, *, key: str = "") -> Row:
    d = _diff(cur, new) if delta is None else delta
    shown = "" if kind == fields.TEXT else _delta(kind, d)
    return Row(label, _fmt(kind, cur), _fmt(kind, new), shown, _up(d), key)


def _guess_kind(name: str, *values: Any) -> str:
    """The kind of a field of an older document: by name (``presentation.fields``), else a
    whole number is a count, another number a plain number, anything else text."""
    kind = fields.field(name).kind
    if kind != fields.TEXT:
        return kind
    nums = [v for v in values if v is not None]
    if nums and all(isinstance(v, int) and not isinstance(v, bool) for v in nums):
        return fields.COUNT
    if nums and all(isinstance(v, int | float) and not isinstance(v, bool) for v in nums):
        return fields.NUMBER
    return fields.TEXT


def _humane(name: str) -> str:
    text = fields.label(name) if name in fields.FIELDS else name.replace("_", " ").replace(".", " · ")
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    """A value of an unknown field in words (never JSON)."""
    if value is None or value == "":
        return formats.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return f"{len(value)} figures"
    if isinstance(value, list | tuple):
        if all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
            return ", ".join(_text(v) for v in value) or formats.MISSING
        return f"{len(value)} entries"
    if isinstance(value, float):
        return formats.number(value)
    if isinstance(value, int):
        return formats.count(value)
    return str(value)


# --- sections ---------------------------------------------------------------------------------
def _figures_of(side: Any) -> dict[str, Any]:
    """A run side's figures: ``totals`` and ``tail`` (and, in older documents, flat figures)."""
    if not isinstance(side, Mapping):
        return {}
    flat = {k: v for k, v in side.items() if not isinstance(v, Mapping | list) and k != "run"}
    return {**flat, **(side.get("totals") or {}), **(side.get("tail") or {})}


def _summary(doc: Mapping[str, Any]) -> list[Row]:
    cur, new = _figures_of(doc.get("current")), _figures_of(doc.get("proposed"))
    keys = [k for k in fields.OVERVIEW_KEYS if k in cur or k in new]
    keys += [k for k in dict.fromkeys([*cur, *new]) if k not in keys and k in fields.FIELDS and k != "alpha"]
    rows = []
    for k in keys:
        kind = fields.field(k).kind
        rows.append(_row(_humane(k), kind, cur.get(k), new.get(k), key=k))
    if not cur:  # nothing to compare with: the proposed figures only
        rows = [Row(r.label, formats.MISSING, r.proposed, "", None, r.key) for r in rows]
    return rows


def _headline(doc: Mapping[str, Any]) -> list[Figure]:
    """The figures of every ``riskgov.impact/1`` document (also those before §15)."""
    out = []
    for key, label, kind in (
        ("delta_initial_margin_usd", "Δ initial margin", fields.MONEY),
        ("delta_maintenance_margin_usd", "Δ maintenance margin", fields.MONEY),
        ("newly_liquidatable_accounts", "Newly liquidatable accounts", fields.COUNT),
        ("no_longer_liquidatable_accounts", "No longer liquidatable", fields.COUNT),
        ("delta_shortfall_usd", "Δ shortfall now", fields.MONEY),
    ):
        if key in doc:
            value = _delta(kind, doc[key]) if key.startswith("delta_") else fields.format_value(kind, doc[key])
            out.append(Figure(key, label, value))
    return out


def _cost(cost: Mapping[str, Any]) -> tuple[list[Figure], list[MarketCost], list[BracketLeverage]]:
    cards = [
        Figure(
            "delta_initial_margin_usd", "Δ initial margin", _delta(fields.MONEY, cost.get("delta_initial_margin_usd"))
        ),
        Figure(
            "delta_maintenance_margin_usd",
            "Δ maintenance margin",
            _delta(fields.MONEY, cost.get("delta_maintenance_margin_usd")),
        ),
        Figure(
            "newly_liquidatable_accounts",
            "Accounts newly liquidatable now",
            formats.count(cost.get("newly_liquidatable_accounts")),
            f"{formats.count(cost.get('no_longer_liquidatable_accounts'))} no longer liquidatable",
        ),
        Figure(
            "newly_below_im_accounts", "Accounts newly below IM", formats.count(cost.get("newly_below_im_accounts"))
        ),
        Figure(
            "top_up_usd",
            "Δ top-up to IM, Σ max(0, IM − E)",
            _delta(fields.MONEY, cost.get("top_up_usd")),
            f"{formats.money(cost.get('top_up_current_usd'))} now → {formats.money(cost.get('top_up_proposed_usd'))}",
        ),
    ]
    markets = [
        MarketCost(
            str(m.get("market", "")),
            _delta(fields.MONEY, m.get("delta_initial_margin_usd")),
            _delta(fields.MONEY, m.get("delta_maintenance_margin_usd")),
            _up(m.get("delta_maintenance_margin_usd")),
        )
        for m in cost.get("per_market") or []
    ]
    leverage = [
        BracketLeverage(
            str(m.get("market", "")),
            formats.money(b.get("floor_usd")),
            formats.multiple(b.get("current")) or formats.MISSING,
            formats.multiple(b.get("proposed")) or formats.MISSING,
        )
        for m in cost.get("max_leverage") or []
        for b in m.get("brackets") or []
    ]
    return cards, markets, leverage


def _cost_underlyings(cost: Mapping[str, Any]) -> list[UnderlyingCost]:
    return [
        UnderlyingCost(
            str(u.get("underlying", "")),
            formats.count(u.get("risk_units")),
            _delta(fields.MONEY, u.get("delta_initial_margin_usd")),
            _delta(fields.MONEY, u.get("delta_maintenance_margin_usd")),
            _up(u.get("delta_maintenance_margin_usd")),
        )
        for u in cost.get("per_underlying") or []
        if isinstance(u, Mapping)
    ]


def _protection(rows: Sequence[Mapping[str, Any]]) -> list[FamilyProtection]:
    out = []
    for p in rows:
        fam = str(p.get("family", ""))
        label, level = family_label(fam), _level(p.get("alpha"))
        cur, new = p.get("current") or {}, p.get("proposed") or {}
        measures = []
        for name, key, kind in PROTECTION_MEASURES:
            stored_delta = p.get(f"delta_{key}")
            delta = stored_delta if stored_delta is not None else _diff(cur.get(key), new.get(key))
            title = f"{name} {level}, {label}" if key in ("var_usd", "es_usd", "coverage_at_es") else f"{name}, {label}"
            measures.append(_row(title, kind, cur.get(key), new.get(key), delta, key=key))
        note = FAMILY_NOTES.get(fam, "")
        caption = f"{label} — {formats.count(p.get('scenarios'))} scenarios" + (f", {note}" if note else "")
        out.append(FamilyProtection(fam, label, caption, formats.count(p.get("scenarios")), measures))
    return out


def _scenarios(doc: Mapping[str, Any]) -> list[ScenarioRow]:
    family_of = {
        s.get("name"): family_label(str(p.get("family", "")))
        for p in doc.get("protection") or []
        for s in p.get("standard_scenarios") or []
    }
    out = []
    seen = set()
    for s in doc.get("scenarios") or []:
        name = str(s.get("name", ""))
        seen.add(name)
        a, b = s.get("current_shortfall_usd"), s.get("proposed_shortfall_usd")
        d = s.get("delta_shortfall_usd", _diff(a, b))
        out.append(
            ScenarioRow(
                name,
                family_of.get(name) or str(s.get("kind", "")),
                formats.money(a),
                formats.money(b),
                _delta(fields.MONEY, d),
                _up(d),
                formats.ratio(s.get("current_coverage_ratio")) if a is not None else formats.MISSING,
                formats.ratio(s.get("proposed_coverage_ratio")),
                formats.count(s.get("current_liquidatable_accounts")),
                formats.count(s.get("proposed_liquidatable_accounts")),
            )
        )
    for p in doc.get("protection") or []:
        for s in p.get("standard_scenarios") or []:
            name = str(s.get("name", ""))
            if name in seen:
                continue
            a, b = s.get("shortfall_before_usd"), s.get("shortfall_after_usd")
            d = _diff(a, b)
            out.append(
                ScenarioRow(
                    name,
                    family_label(str(p.get("family", ""))),
                    formats.money(a),
                    formats.money(b),
                    _delta(fields.MONEY, d),
                    _up(d),
                )
            )
    return out


def _frontier(fr: Mapping[str, Any]) -> Frontier:
    fam, level = family_label(str(fr.get("family", "path_1d"))), _level(fr.get("alpha"))
    cur, new = fr.get("current") or {}, fr.get("proposed") or {}

    def mark(p: Mapping[str, Any]) -> str:
        marks = []
        if p.get("current") or (cur and _same(p, cur)):
            marks.append("current")
        if new and _same(p, new):
            marks.append("proposed")
        return " · ".join(marks)

    points = [
        FrontierPoint(
            f"×{formats.number(p.get('multiplier'), 2).rstrip('0').rstrip('.')}",
            formats.money(p.get("mm_usd")),
            formats.money(p.get("es_usd")),
            mark(p),
        )
        for p in fr.get("points") or []
    ]
    for key, side in (("current", cur), ("proposed", new)):
        if side:
            points.append(
                FrontierPoint(f"{key} table", formats.money(side.get("mm_usd")), formats.money(side.get("es_usd")), key)
            )
    market = str(fr.get("market", ""))
    return Frontier(
        market=market,
        title=f"{market}: maintenance margin vs ES {level} of shortfall, {fam}",
        family=fam,
        es_label=f"ES {level} of shortfall, {fam}",
        accounts=formats.count(fr.get("accounts")),
        points=points,
        svg=scatter_svg(frontier_figure(dict(fr)), title=f"{market}: MM vs ES {level}, {fam}", names=("MM", "ES")),
    )


def _same(p: Mapping[str, Any], side: Mapping[str, Any]) -> bool:
    a, b = _num(p.get("mm_usd")), _num(side.get("mm_usd"))
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _other(doc: Mapping[str, Any]) -> list[Row]:
    """Keys no section shows (older or unknown documents), flattened with their pairs."""
    rows: list[Row] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for a, b in _PAIRS:
                if a in value and b in value and not isinstance(value[a], Mapping | list):
                    name = prefix.rsplit(".", 1)[-1]
                    rows.append(
                        _row(_humane(prefix), _guess_kind(name, value[a], value[b]), value[a], value[b], key=prefix)
                    )
                    return
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
            return
        name = prefix.rsplit(".", 1)[-1]
        kind = _guess_kind(name, value)
        shown = _text(value) if kind == fields.TEXT else _fmt(kind, value)
        rows.append(Row(_humane(prefix), formats.MISSING, shown, "", None, prefix))

    walk("", {k: v for k, v in doc.items() if k not in KNOWN_KEYS})
    return rows


# --- the view ---------------------------------------------------------------------------------
def impact_view(
    doc: Mapping[str, Any] | None,
    *,
    pending: str = "Impact analysis pending.",
    account_url: Callable[[str], str] | None = None,
) -> ImpactView:
    """The frozen impact ``doc`` (``Proposal.impact``, RISK_MODEL §15) as formatted sections.

    Args:
        doc: the frozen document, or ``None``/empty while the impact is not computed.
        pending: what to say while there is no document.
        account_url: the page of a newly liquidatable account by its id (``""`` = no page).

    Returns:
        An :class:`ImpactView`; never raises on an older or partial document (what it holds
        is shown, formatted).
    """
    if not doc:
        return ImpactView(state="pending", pending=pending)
    if not isinstance(doc, Mapping):
        return ImpactView(state="ready", other=[Row("Impact", formats.MISSING, _text(doc), "")])
    if doc.get("error"):
        return ImpactView(state="failed", error=str(doc["error"]), source=_source(doc))
    view = ImpactView(state="ready", source=_source(doc))
    for key in ("note", "impact_note"):
        if doc.get(key):
            view.notes.append(_note(str(doc[key])))
    view.changed_markets = ", ".join(str(m) for m in doc.get("changed_markets") or [])
    view.headline = _headline(doc)
    view.summary = _summary(doc)
    if isinstance(doc.get("cost"), Mapping):
        view.cost, view.cost_markets, view.leverage = _cost(doc["cost"])
        view.cost_underlyings = _cost_underlyings(doc["cost"])
    view.changed_underlyings = ", ".join(str(u) for u in doc.get("changed_underlyings") or [])
    link = account_url or (lambda _id: "")
    view.newly_liquidatable = [AccountRef(str(a), link(str(a))) for a in doc.get("newly_liquidatable_sample") or []]
    total = (doc.get("cost") or {}).get("newly_liquidatable_accounts", doc.get("newly_liquidatable_accounts"))
    view.newly_liquidatable_total = formats.count(total)
    view.protection = _protection(doc.get("protection") or [])
    view.scenarios = _scenarios(doc)
    view.frontiers = [_frontier(fr) for fr in doc.get("frontier") or [] if isinstance(fr, Mapping)]
    view.other = _other(doc)
    return view


def _note(text: str) -> str:
    """A document's note in plain words (first letter up, a full stop)."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _source(doc: Mapping[str, Any]) -> str:
    cur = doc.get("current") if isinstance(doc.get("current"), Mapping) else None
    new = doc.get("proposed") if isinstance(doc.get("proposed"), Mapping) else None
    parts = []
    if new and new.get("run") is not None:
        parts.append(f"proposed run #{new['run']}")
    if cur and cur.get("run") is not None:
        parts.append(f"current run #{cur['run']}")
    text = " and ".join(parts)
    if doc.get("snapshot") is not None:
        text += f" on snapshot #{doc['snapshot']}"
    return text.strip()


def frontier_csv(doc: Mapping[str, Any] | None) -> str:
    """The frontier points of every changed market as CSV (raw USD, one header row):
    ``market, table, multiplier, mm_usd, es_usd, marked`` (``marked`` = current/proposed)."""
    rows = []
    for fr in (doc or {}).get("frontier") or []:
        for p in fr.get("points") or []:
            rows.append(
                {
                    "market": fr.get("market"),
                    "table": "bracket table × multiplier",
                    "multiplier": p.get("multiplier"),
                    "mm_usd": p.get("mm_usd"),
                    "es_usd": p.get("es_usd"),
                    "marked": "current" if p.get("current") else "",
                }
            )
        for key in ("current", "proposed"):
            side = fr.get(key)
            if side:
                rows.append(
                    {
                        "market": fr.get("market"),
                        "table": f"{key} table",
                        "multiplier": None,
                        "mm_usd": side.get("mm_usd"),
                        "es_usd": side.get("es_usd"),
                        "marked": key,
                    }
                )
    return csv_text(rows, FRONTIER_COLUMNS)
