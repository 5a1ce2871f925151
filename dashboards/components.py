"""Shared page pieces: key-figure cards, charts with their CSV download, tables, and the
role check for links to actions.

Number formats are ``riskgov.presentation.formats`` (re-exported here as ``usd``, ``ratio``,
``count``, ``fraction`` for the pages); the CSV text is ``riskgov.presentation.exports``.

Every chart is drawn by :func:`chart`, which puts the figure, the data behind it (as CSV
text in a ``dcc.Store``), a download button and a ``dcc.Download`` side by side; one
pattern-matching callback (:func:`download_csv`, registered by :func:`register_callbacks`)
serves every chart's download. A chart whose data is too large to ship with the page (the
layout is parsed before anything is drawn) names a *CSV source* instead (:func:`csv_source`):
a function of the run that the download calls on the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dash import MATCH, Input, Output, State, dash_table, dcc, html
from dash.dash_table.Format import Format, Group, Scheme, Symbol

from dashboards import auth
from riskgov.presentation.exports import csv_text
from riskgov.presentation.formats import INFINITE, MISSING, count, fraction, ratio, share
from riskgov.presentation.formats import money as usd

__all__ = ["count", "csv_text", "fraction", "ratio", "share", "usd"]


def card(card_id: str, label: str, value: str, note: str = "", status: str | None = None) -> html.Div:
    """One key figure; the value's element id is ``card_id`` (browser tests read it).

    ``status`` ``"bad"`` / ``"ok"`` colours the card against an alert threshold (the card's
    class becomes ``kpi kpi-bad`` / ``kpi kpi-ok``, its element id ``<card_id>-card``)."""
    return html.Div(
        [
            html.Div(label, className="kpi-label"),
            html.Div(value, id=card_id, className="kpi-value"),
            html.Div(note, className="kpi-note"),
        ],
        id=f"{card_id}-card",
        className=f"kpi kpi-{status}" if status else "kpi",
    )


def cards(items: Iterable[html.Div]) -> html.Div:
    """A grid of key-figure cards."""
    return html.Div(list(items), className="kpis")


#: name → function returning ``(rows, columns)`` of a chart's data (see :func:`csv_source`)
CSV_SOURCES: dict[str, Callable[..., tuple[Sequence[dict[str, Any]], Sequence[str]]]] = {}


def csv_source(name: str) -> Callable:
    """Register a function ``fn(**args) -> (rows, columns)`` as the CSV source ``name``: a
    chart drawn with ``chart(..., source=(name, args))`` sends only the name and ``args``
    (JSON: e.g. the run's id, so the file is the data of the run on the page) with the page,
    and the download calls ``fn(**args)``."""

    def register(fn: Callable) -> Callable:
        CSV_SOURCES[name] = fn
        return fn

    return register


def csv_store(chart_id: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, str]:
    """The value of a chart's CSV store: file name and CSV text."""
    return {"filename": f"{chart_id}.csv", "csv": csv_text(rows, columns)}


def chart(
    chart_id: str,
    figure: Any = None,
    rows: Sequence[dict[str, Any]] = (),
    columns: Sequence[str] = (),
    *,
    csv: dict[str, str] | None = None,
    source: tuple[str, dict[str, Any]] | None = None,
) -> html.Div:
    """A chart with its data download (``rows`` and ``columns``, a ready :func:`csv_store`
    value ``csv``, or a registered :func:`csv_source` ``(name, args)`` the download calls).
    Callbacks that redraw it output to ``Output(chart_id, "figure")`` and
    ``Output(store_id(chart_id), "data")``."""
    if source is not None:
        if source[0] not in CSV_SOURCES:
            raise KeyError(f"no CSV source {source[0]!r}")
        data = {"filename": f"{chart_id}.csv", "source": source[0], "args": dict(source[1])}
    else:
        data = csv_store(chart_id, rows, columns) if columns else csv
    return html.Div(
        [
            dcc.Graph(id=chart_id, figure=figure or {}, config={"displaylogo": False}),
            dcc.Store(id=store_id(chart_id), data=data),
            html.Button("Download data (CSV)", id={"type": "csv-button", "chart": chart_id}, className="csv"),
            dcc.Download(id={"type": "csv-download", "chart": chart_id}),
        ],
        className="chart",
    )


def store_id(chart_id: str) -> dict[str, str]:
    """The id of a chart's CSV store (``{"type": "csv-data", "chart": chart_id}``)."""
    return {"type": "csv-data", "chart": chart_id}


def register_callbacks(app: Any) -> None:
    """Register the shared callbacks on ``app``.

    Done per app rather than with ``dash.callback``: that global list is consumed by the
    first app that serves a request, and this module is imported once per process while
    each app (tests create several) needs its own copy.
    """
    app.callback(
        Output({"type": "csv-download", "chart": MATCH}, "data"),
        Input({"type": "csv-button", "chart": MATCH}, "n_clicks"),
        State({"type": "csv-data", "chart": MATCH}, "data"),
        prevent_initial_call=True,
    )(download_csv)


def download_csv(_n: int, data: dict[str, Any] | None) -> dict[str, str] | None:
    """Serve the data behind a chart as a CSV file: the CSV text of its store, or what its
    :func:`csv_source` returns (``None``, no download, for an unknown source)."""
    if not data:
        return None
    if "csv" in data:
        return {"content": data["csv"], "filename": data["filename"]}
    fn = CSV_SOURCES.get(data.get("source", ""))
    if fn is None:
        return None
    rows, columns = fn(**data.get("args", {}))
    return {"content": csv_text(rows, columns), "filename": data["filename"]}


#: a cell that already reads as a number ("$1,234", "7.8 %", "40×", "1 d", "∞", "—")
_NUMBER_TEXT = re.compile(r"^[−+\-]?\$?[−+\-]?[\d,]+(\.\d+)?\s?(%|×|[kMB]|h|d|min)?$|^[∞—]$")


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or bool(
        isinstance(value, str) and _NUMBER_TEXT.match(value.strip())
    )


def numeric_format(key: str, values: Sequence[Any], *, nully: str = MISSING, header: str = "") -> Format | None:
    """The browser-side format of a column of numbers (kept numeric so it sorts as numbers),
    by the presentation rule: ``*_usd`` (or a header in "(USD)") money in whole dollars with separators, ``*_pct``
    (percent numbers, ``formats.percent_value``) 2 places, integers with separators; ``None``
    for other columns (pre-formatted text, or small decimals such as a position size)."""
    raw = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if key.endswith("_usd") or "(USD)" in header:
        return Format(group=Group.yes, precision=0, scheme=Scheme.fixed, symbol=Symbol.yes, nully=nully).symbol_prefix(
            "$"
        )
    if key.endswith("_pct"):
        return Format(group=Group.yes, precision=2, scheme=Scheme.fixed, nully=nully)
    if raw and all(float(v).is_integer() for v in raw):
        return Format(group=Group.yes, precision=0, scheme=Scheme.fixed, nully=nully)
    return None


def table(
    table_id: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    infinite_when_null: Sequence[str] = (),
    null_text: dict[str, str] | None = None,
    **kwargs: Any,
):
    """A sortable ``DataTable``; ``columns`` are ``(header, key)``; keys ending in ``_link``
    are markdown links; keys in ``infinite_when_null`` are numeric and show ``None`` as ∞
    (so they sort as numbers); ``null_text`` gives other numeric columns' text for ``None``
    (e.g. "not computed"; default ``—``). Columns of numbers are formatted by
    ``numeric_format`` and, like columns of formatted numbers, right-aligned."""
    rows = list(rows)
    null_text = null_text or {}

    def spec(name: str, key: str) -> dict[str, Any]:
        if key.endswith("_link"):
            return {"name": name, "id": key, "presentation": "markdown"}
        values = [r.get(key) for r in rows if r.get(key) is not None]
        nully = INFINITE if key in infinite_when_null else null_text.get(key, MISSING)
        fmt = (
            numeric_format(key, values, nully=nully, header=name)
            if all(not isinstance(v, str) for v in values)
            else None
        )
        if fmt is None and key in infinite_when_null:
            fmt = Format(nully=INFINITE)
        if fmt is not None:
            return {"name": name, "id": key, "type": "numeric", "format": fmt}
        return {"name": name, "id": key}

    numeric = [
        k
        for _n, k in columns
        if any(k in r for r in rows) and all(_is_number(r.get(k)) for r in rows if r.get(k) not in (None, ""))
    ]
    return dash_table.DataTable(
        id=table_id,
        data=rows,
        columns=[spec(n, k) for n, k in columns],
        sort_action="native",
        export_format="csv",
        export_headers="display",
        page_size=kwargs.pop("page_size", 25),
        style_cell={"textAlign": "left", "fontFamily": "system-ui", "padding": "4px 8px"},
        style_cell_conditional=[{"if": {"column_id": k}, "textAlign": "right"} for k in numeric]
        + kwargs.pop("style_cell_conditional", []),
        style_table={"overflowX": "auto"},
        markdown_options={"link_target": "_self"},
        **kwargs,
    )


def run_header(run: Any) -> html.Div:
    """Which run a page shows, when it was published, and on which snapshot."""
    snap = run.snapshot
    return html.P(
        [
            html.Span(f"Run #{run.pk} ({run.kind}) published {run.published_at:%Y-%m-%d %H:%M} UTC", id="run-id"),
            f" · snapshot #{snap.pk} of {snap.venue} taken {snap.taken_at:%Y-%m-%d %H:%M} UTC",
            " (generated)" if getattr(snap, "generated", False) else "",
        ],
        className="muted",
    )


def no_run() -> html.Div:
    """What a page shows before any run is published."""
    return html.Div(
        [
            html.P(
                "No published health run yet. An analyst starts one from the API, or wait for the schedule.",
                id="no-run",
            )
        ],
    )


def action_link(text: str, href: str, *roles: str, link_id: str) -> html.A | None:
    """A link to an action in the committee UI, shown only to users holding one of ``roles``
    (the action itself is still checked by the service it calls)."""
    if not (auth.current_roles() & set(roles)):
        return None
    return html.A(text, href=href, id=link_id, className="button")
