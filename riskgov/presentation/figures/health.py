"""Figures of health runs: stored results in, ``go.Figure`` out (STYLE rule 14).

Inputs are plain rows (dicts) of stored results — the selectors' rows or their read models
flattened by the page — never recomputed. Every figure has a title, axis labels with units and hover details; money is
USD, fractions are shown as percent (RISK_MODEL §1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from riskgov.presentation import formats
from riskgov.presentation.families import measure_label
from riskgov.presentation.figures.style import LAYOUT, PALETTE, PRICE_TICKS, USD_TICKS, money_axes


def _layout(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(title=title, xaxis={"title": x}, yaxis={"title": y}, **LAYOUT)
    fig.update_layout(**extra)
    fig.update_xaxes(automargin=True)  # long category labels (ADL, scenario names) are not cut
    fig.update_yaxes(automargin=True)
    return money_axes(fig)  # every axis in USD: "$250,000", never "250k" (style.USD_TICKS)


def _vlines(fig: go.Figure, marks: Sequence[dict[str, Any]]) -> go.Figure:
    """Dashed vertical lines across the plot, each labelled at the top: what ``add_vline``
    draws, set in one layout update (``add_vline`` re-validates the layout per line: ~50 ms
    each). A mark: ``x``, ``text``, ``color``; optional ``side`` (``"right"``, the default, or
    ``"left"`` of the line) and ``yshift`` (px)."""
    shapes = [*fig.layout.shapes]
    notes = [*fig.layout.annotations]
    for m in marks:
        line = {"dash": "dash", "color": m["color"]}
        shapes.append(
            {
                "type": "line",
                "x0": m["x"],
                "x1": m["x"],
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "y domain",
                "line": line,
            }
        )
        notes.append(
            {
                "x": m["x"],
                "xref": "x",
                "y": 1,
                "yref": "y domain",
                "text": m["text"],
                "showarrow": False,
                "xanchor": "right" if m.get("side") == "left" else "left",
                "yanchor": "top",
                "yshift": m.get("yshift", 0),
                "font": {"color": m["color"]},
            }
        )
    return fig.update_layout(shapes=shapes, annotations=notes)


def _bars(
    rows: Sequence[dict[str, Any]], x_key: str, series: Sequence[tuple[str, str, str]], *, fmt: str = "$,.0f", scale=1.0
) -> go.Figure:
    """Grouped bars, one trace per ``(column, label, color)``; ``None`` values are gaps."""
    fig = go.Figure()
    xs = [r[x_key] for r in rows]
    for key, label, color in series:
        fig.add_trace(
            go.Bar(
                x=xs,
                y=[None if r.get(key) is None else r[key] * scale for r in rows],
                name=label,
                marker_color=color,
                hovertemplate=f"%{{x}}<br>{label} %{{y:{fmt}}}<extra></extra>",
            )
        )
    return fig


def history_figure(rows: Sequence[dict[str, Any]], series: Sequence[tuple[str, str]], *, title: str, y: str):
    """Time series of run figures: ``series`` are ``(column, label)``; x is publication time."""
    fig = go.Figure()
    xs = [r["published_at"] for r in rows]
    hover = USD_TICKS if "USD" in y else ",.6~r"  # never "4.722e+5"
    for i, (col, label) in enumerate(series):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r[col] for r in rows],
                mode="lines+markers",
                name=label,
                line={"color": PALETTE[i % len(PALETTE)]},
                customdata=[r["id"] for r in rows],
                hovertemplate=f"{label}<br>%{{x|%Y-%m-%d %H:%M}}<br>%{{y:{hover}}}<br>run #%{{customdata}}<extra></extra>",
            )
        )
    return _layout(fig, title, "run published (UTC)", y)


def margin_ratio_figure(dist: dict[str, Any]) -> go.Figure:
    """Accounts per margin-ratio bin (§5: MM/E; ≥ 100 % liquidatable, ∞ = no equity)."""
    edges = dist["edges"]
    labels = [f"{a * 100:g}–{b * 100:g} %" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels += [f"≥ {edges[-1] * 100:g} %", "∞ (E ≤ 0)"]
    counts = [*dist["counts"], dist["infinite"]]
    colors = ["#2b8a3e" if i < edges.index(1.0) else "#d9480f" for i in range(len(counts))]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=counts,
            marker_color=colors,
            hovertemplate="margin ratio %{x}<br>%{y:,} accounts<extra></extra>",
            name="accounts",
        )
    )
    return _layout(
        fig,
        "Accounts by margin ratio (MM / equity; health factor = 1 / margin ratio)",
        "margin ratio (%) — ≥ 100 % is liquidatable",
        "accounts (log scale)",
        showlegend=False,
        # log counts: ~19,000 healthy accounts in the first bin no longer flatten the few
        # near and above 100 % (issue #16 item 12); a bin of 1 account is still visible
        yaxis_type="log",
    )


def liquidation_map_figure(market: str, m: dict[str, Any], *, low: int, step: int) -> go.Figure:
    """Notional liquidated at each price level of one market (§7), longs below the mark and
    shorts above; the current mark is a vertical line."""
    mark = m["mark_price"]
    n = len(m["long"])
    prices = [mark * (1 + (low + step * (i + 0.5)) / 100) for i in range(n)]
    pct = [low + step * i for i in range(n)]
    fig = go.Figure()
    for key, label, color in (("long", "longs liquidated", "#d9480f"), ("short", "shorts liquidated", "#1f5fbf")):
        fig.add_trace(
            go.Bar(
                x=prices,
                y=m[key],
                name=label,
                marker_color=color,
                customdata=pct,
                hovertemplate=(
                    f"{label}<br>price ≈ %{{x:{PRICE_TICKS}}} (%{{customdata:+d}} % from mark)"
                    "<br>notional %{y:$,.0f}<extra></extra>"
                ),
            )
        )
    _vlines(fig, [{"x": mark, "color": "#111827", "text": f"mark {formats.price(mark)}"}])
    return _layout(
        fig,
        f"{market}: liquidation map (notional liquidated by price level, ±50 % of mark)",
        "price (USD)",
        "notional liquidated (USD)",
        barmode="overlay",
        bargap=0,
    )


def scenario_bars_figure(rows: Sequence[dict[str, Any]], insurance_fund: float) -> go.Figure:
    """Shortfall and insurance fund after each standard (non-historical) scenario (§8)."""
    fig = _bars(
        rows,
        "name",
        [("shortfall_usd", "shortfall", "#d9480f"), ("insurance_fund_after_usd", "insurance fund after", "#2b8a3e")],
    )
    fig.add_hline(y=insurance_fund, line_dash="dot", annotation_text=f"insurance fund {formats.money(insurance_fund)}")
    return _layout(
        fig, "Shortfall and insurance fund after each standard scenario", "scenario", "shortfall / fund (USD)"
    )


def shock_curve_figure(rows: Sequence[dict[str, Any]], base: dict[str, Any] | None = None) -> go.Figure:
    """Shortfall against a uniform shock of every asset price (§9 uniform scenarios). ``base``
    (the base pass: ``shortfall_usd``, ``liquidatable_accounts``, ``adl_usd``; ``adl_usd`` ``None``
    = not computed, so said in the hover) is drawn as the 0 % point when the scenarios have none."""
    pts = sorted((r["shock"], r) for r in rows if r["shock"] is not None)
    if base is not None and not any(s == 0 for s, _ in pts):
        zero = {"liquidatable_accounts": 0, "adl_usd": 0.0, **base, "shock": 0.0}
        pts = sorted([*pts, (0.0, zero)], key=lambda p: p[0])
    fig = go.Figure(
        go.Scatter(
            x=[s * 100 for s, _ in pts],
            y=[r["shortfall_usd"] for _, r in pts],
            mode="lines+markers",
            name="shortfall",
            customdata=[
                [r["liquidatable_accounts"], "not computed" if r["adl_usd"] is None else formats.money(r["adl_usd"])]
                for _, r in pts
            ],
            hovertemplate=(
                "shock %{x:+.0f} %<br>shortfall %{y:$,.0f}<br>liquidated accounts %{customdata[0]:,}"
                "<br>ADL %{customdata[1]}<extra></extra>"
            ),
            line={"color": "#d9480f"},
        )
    )
    return _layout(
        fig,
        "Shortfall vs uniform price shock",
        "shock to every asset price (%)",
        "shortfall (USD)",
    )


def tail_figure(
    shortfalls: Sequence[float],
    *,
    var: float,
    es: float,
    insurance_fund: float,
    alpha: float,
    label: str = "Historical scenarios",
):
    """Distribution of protocol shortfall over one family's scenarios with VaR/ES marked (§10);
    ``label`` names the family (e.g. ``"1-day paths"``)."""
    fig = go.Figure(
        go.Histogram(
            x=list(shortfalls),
            nbinsx=60,
            marker_color="#1f5fbf",
            name=label,
            hovertemplate="shortfall %{x:$,.0f}<br>%{y:,} scenarios<extra></extra>",
        )
    )
    # labels on alternating sides and heights: VaR and ES are often close and overlapped
    _vlines(
        fig,
        [
            {
                "x": var,
                "text": f"{measure_label('VaR', alpha, label)} {formats.money(var)}",
                "color": "#e67700",
                "side": "left",
            },
            {
                "x": es,
                "text": f"{measure_label('ES', alpha, label)} {formats.money(es)}",
                "color": "#d9480f",
                "yshift": -18,
            },
            {
                "x": insurance_fund,
                "text": f"insurance fund {formats.money(insurance_fund)}",
                "color": "#2b8a3e",
                "yshift": -36,
            },
        ],
    )
    return _layout(
        fig,
        f"{label}: protocol shortfall (VaR/ES {formats.level(alpha)}, {label})",
        "shortfall (USD)",
        "scenarios",
        yaxis_type="log",
        showlegend=False,
    )


def cascade_figure(cascade: dict[str, Any]) -> go.Figure:
    """Cascade rounds of the worst scenario (§11): liquidated accounts and shortfall per round."""
    rounds = cascade.get("rounds", [])
    xs = [r["round"] for r in rounds]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=xs,
            y=[r["liquidated_accounts"] for r in rounds],
            name="accounts liquidated",
            marker_color="#1f5fbf",
            hovertemplate="round %{x}<br>%{y:,} accounts liquidated<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[r["shortfall_usd"] for r in rounds],
            name="shortfall",
            yaxis="y2",
            mode="lines+markers",
            line={"color": "#d9480f"},
            hovertemplate="round %{x}<br>shortfall %{y:$,.0f}<extra></extra>",
        )
    )
    return _layout(
        fig,
        # two lines: the scenario name is long and the one-line title was cut
        f"Cascade after “{cascade.get('scenario', '')}”<br><sup>liquidation → price impact → liquidation</sup>",
        "round",
        "accounts liquidated",
        yaxis2={"title": "shortfall (USD)", "overlaying": "y", "side": "right"},
    )


def adl_figure(adl: dict[str, Any]) -> go.Figure:
    """ADL amount by market and liquidated side in the worst scenario (§8 attribution): what
    the liquidated longs of a market owe is taken from that market's profitable shorts, and
    the reverse."""
    fig = _bars(
        adl.get("by_market", []),
        "market",
        [
            ("adl_longs_usd", "owed by liquidated longs (profitable shorts deleveraged)", "#d9480f"),
            ("adl_shorts_usd", "owed by liquidated shorts (profitable longs deleveraged)", "#1f5fbf"),
        ],
    )
    return _layout(fig, f"ADL exposure by market in “{adl.get('scenario', '')}”", "market", "ADL amount (USD)")


def recommendation_figure(rows: Sequence[dict[str, Any]], *, measure: str = "mmf") -> go.Figure:
    """Current first-bracket MMF (or IMF) against the §12 recommendations (h = 1 and 3 days), in %."""
    label = measure.upper()
    fig = _bars(
        rows,
        "market",
        [
            (f"current_{measure}", f"current {label}", "#111827"),
            (f"{measure}_rec_h1", f"recommended {label}, 1 day", "#1f5fbf"),
            (f"{measure}_rec_h3", f"recommended {label}, 3 days", "#d9480f"),
        ],
        fmt=".3f",
        scale=100.0,
    )
    title = "Maintenance" if measure == "mmf" else "Initial"
    return _layout(fig, f"{title} margin fraction: current vs recommended (§12)", "market", f"{label} (%)")


def kupiec_figure(rows: Sequence[dict[str, Any]], *, critical: float) -> go.Figure:
    """Kupiec POF likelihood ratio of the current MMF per market and horizon (§12)."""
    markets = [r["market"] for r in rows]
    fig = go.Figure()
    for key, label, color in (("kupiec_h1", "1 day", "#1f5fbf"), ("kupiec_h3", "3 days", "#d9480f")):
        fig.add_trace(
            go.Bar(
                x=markets,
                y=[r.get(key) for r in rows],
                name=f"Kupiec LR, {label}",
                marker_color=color,
                customdata=[[r.get(f"exceedances_{key[-2:]}"), r.get(f"windows_{key[-2:]}")] for r in rows],
                hovertemplate=(
                    f"%{{x}} ({label})<br>LR %{{y:.3f}}<br>exceedances %{{customdata[0]}} of %{{customdata[1]}}"
                    "<extra></extra>"
                ),
            )
        )
    fig.add_hline(
        y=critical, line_dash="dash", line_color="#b91c1c", annotation_text=f"reject above {formats.number(critical)}"
    )
    return _layout(fig, "Backtest of the current MMF: Kupiec likelihood ratio", "market", "likelihood ratio (χ²₁)")


def horizon_recommendation_figure(rows: Sequence[dict[str, Any]], *, measure: str = "mmf") -> go.Figure:
    """Current first-bracket MMF (or IMF) against the §12 recommendation at each market's
    liquidation horizon (bracket 1), in %; the horizon and series are in the hover."""
    label = measure.upper()
    fig = go.Figure()
    xs = [r["market"] for r in rows]
    for key, name, color in (
        (f"current_{measure}", f"current {label}", "#111827"),
        (f"{measure}_rec", f"recommended {label} at the liquidation horizon", "#1f5fbf"),
    ):
        fig.add_trace(
            go.Bar(
                x=xs,
                y=[None if r.get(key) is None else r[key] * 100.0 for r in rows],
                name=name,
                marker_color=color,
                customdata=[[r.get("horizon_label") or "—", r.get("series") or "—"] for r in rows],
                hovertemplate=(
                    f"%{{x}}<br>{name} %{{y:.3f}} %<br>horizon %{{customdata[0]}}, from %{{customdata[1]}}"
                    "<extra></extra>"
                ),
            )
        )
    title = "Maintenance" if measure == "mmf" else "Initial"
    return _layout(
        fig,
        f"{title} margin fraction, bracket 1: current vs recommended at the liquidation horizon (§12)",
        "market",
        f"{label} (%)",
    )


def horizon_kupiec_figure(rows: Sequence[dict[str, Any]], *, critical: float) -> go.Figure:
    """Kupiec POF likelihood ratio of the current MMF_1 per market at its horizon (§12); bars
    of markets whose backtest flags (rejected with more exceedances than expected) in red."""
    fig = go.Figure(
        go.Bar(
            x=[r["market"] for r in rows],
            y=[r.get("lr") for r in rows],
            name="Kupiec LR",
            marker_color=["#b91c1c" if r.get("too_many") else "#1f5fbf" for r in rows],
            customdata=[[r.get("exceedances"), r.get("n"), r.get("expected")] for r in rows],
            hovertemplate=(
                "%{x}<br>LR %{y:.3f}<br>exceedances %{customdata[0]} of %{customdata[1]} "
                "(expected %{customdata[2]:.1f})<extra></extra>"
            ),
        )
    )
    fig.add_hline(
        y=critical, line_dash="dash", line_color="#b91c1c", annotation_text=f"reject above {formats.number(critical)}"
    )
    return _layout(
        fig,
        "Backtest of the current MMF_1 at the liquidation horizon: Kupiec likelihood ratio",
        "market",
        "likelihood ratio (χ²₁)",
    )


def impact_scenarios_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Shortfall per standard scenario under the current and the proposed parameters."""
    fig = _bars(
        rows,
        "name",
        [
            ("current_shortfall_usd", "current shortfall", "#6b7280"),
            ("proposed_shortfall_usd", "proposed shortfall", "#1f5fbf"),
        ],
    )
    return _layout(fig, "Shortfall under stress: current vs proposed parameters", "scenario", "shortfall (USD)")


def path_replay_figure(replay: dict[str, Any], *, market: str | None = None) -> go.Figure:
    """The worst path step by step (§9): one market's price relative to its base price, the open
    book's MM coverage ``Σ E / Σ MM`` (left axis, ratios) and the shortfall arising at each
    step (right axis, USD bars)."""
    steps = list(range(1, int(replay.get("steps", 0)) + 1))
    markets = replay.get("markets", [])
    m = markets.index(market) if market in markets else 0
    rel = [row[m] for row in replay.get("market_price_rel", [])]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=steps,
            y=replay.get("shortfall_by_step_usd", []),
            name="shortfall (USD)",
            marker_color="#d9480f",
            yaxis="y2",
            hovertemplate="step %{x}<br>shortfall %{y:$,.0f}<extra></extra>",
        )
    )
    if markets:
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=rel,
                name=f"{markets[m]} price / base",
                line_color="#1f5fbf",
                hovertemplate="step %{x}<br>price ×%{y:.4f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=replay.get("mm_coverage", []),
            name="MM coverage (Σ E / Σ MM)",
            line_color="#2b8a3e",
            hovertemplate="step %{x}<br>MM coverage %{y:.3f}<extra></extra>",
        )
    )
    share = replay.get("interpolated_share", 0.0) or 0.0
    return _layout(
        fig,
        f"Worst of the {replay.get('label', 'paths')}: {replay.get('scenario', '')} "
        f"(interpolated steps {formats.share(share)}; most shortfall at step {replay.get('worst_step', 0)})",
        f"step ({replay.get('step_minutes', 60)} min)",
        "price ratio / MM coverage",
        yaxis2={"title": "shortfall (USD)", "overlaying": "y", "side": "right", "showgrid": False},
    )


def frontier_figure(frontier: dict[str, Any]) -> go.Figure:
    """§15 frontier of one changed market: (MM of its positions, ES of the 1-day-path shortfall of
    the accounts holding it) for its bracket table scaled by each multiplier, current and
    proposed tables marked."""
    pts = frontier.get("points", [])
    fig = go.Figure(
        go.Scatter(
            x=[p["mm_usd"] for p in pts],
            y=[p["es_usd"] for p in pts],
            mode="lines+markers+text",
            text=[f"×{p['multiplier']:g}" for p in pts],
            textposition="top center",
            name="bracket table × multiplier",
            line_color="#6b7280",
            hovertemplate="MM %{x:$,.0f}<br>ES %{y:$,.0f}<extra>%{text}</extra>",
        )
    )
    # the current marker is drawn larger, so a proposed table on the same point still shows both
    for key, label, color, symbol, size in (
        ("current", "current", "#1f5fbf", "circle", 18),
        ("proposed", "proposed", "#d9480f", "diamond", 12),
    ):
        pt = frontier.get(key)
        if pt:
            fig.add_trace(
                go.Scatter(
                    x=[pt["mm_usd"]],
                    y=[pt["es_usd"]],
                    mode="markers",
                    name=label,
                    marker={"color": color, "size": size, "symbol": symbol},
                    hovertemplate=f"{label}<br>MM %{{x:$,.0f}}<br>ES %{{y:$,.0f}}<extra></extra>",
                )
            )
    fam = {"path_1d": "1-day paths"}.get(frontier.get("family", ""), frontier.get("family", ""))
    return _layout(
        fig,
        f"{frontier.get('market', '')}: margin vs tail shortfall (ES {frontier.get('alpha', 0.99):.0%}, {fam})",
        "maintenance margin of the market's positions (USD)",
        f"ES of shortfall, accounts holding the market (USD, {fam})",
    )
