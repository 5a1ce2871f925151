"""Stress and coverage by scenario family (RISK_MODEL §9, §10): the headline tail (1-day
paths), the shortfall distribution with VaR/ES of the 1-day and 3-day historical paths, the
replay of the worst 1-day path (price, MM coverage and shortfall by step) with its share of
interpolated steps, and — apart — the gap scenarios (every standard gap, shortfall vs
shock, the gap distribution), the cascade of the worst gap and its ADL exposure."""

from __future__ import annotations

import dash
from dash import html

from dashboards import components as c
from riskgov.health import selectors
from riskgov.presentation import families, formats
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/stress", title="Stress and coverage · riskgov", name="Stress and coverage", order=2)

SCENARIO_COLUMNS = list(selectors.SCENARIO_FIELDS)
TABLE = [
    ("Scenario", "name"),
    ("Kind", "kind"),
    ("Horizon", "horizon"),
    ("Liquidated accounts", "liquidatable_accounts"),
    ("Bankrupt accounts", "bankrupt_accounts"),
    ("Shortfall (USD)", "shortfall_usd"),
    ("Insurance fund after (USD)", "insurance_fund_after_usd"),
    ("ADL (USD)", "adl_usd"),
    ("Coverage", "coverage"),
]
TAIL_TABLE = [
    ("Family", "label"),
    ("Scenarios", "scenarios"),
    ("VaR (USD)", "var"),
    ("ES (USD)", "es"),
    ("Mean shortfall (USD)", "mean"),
    ("Worst shortfall (USD)", "worst"),
    ("Cover-2 (USD)", "cover2"),
    ("Coverage at ES", "coverage"),
    ("Interpolated steps", "interpolated"),
]
PATH_FAMILIES = (("path_1d", "1-day paths"), ("path_3d", "3-day paths"))
WINDOW_TABLE = [
    ("Gap windows", "label"),
    ("Windows", "windows"),
    ("In a tail", "tail"),
    ("Worst window", "worst"),
    ("Worst shortfall (USD)", "worst_usd"),
]
DISTRIBUTION_TABLE = [
    ("Family", "label"),
    ("Scenarios", "n"),
    ("With shortfall", "with_shortfall"),
    ("Mean (USD)", "mean"),
    ("Median (USD)", "median"),
    ("90 % (USD)", "p90"),
    ("95 % (USD)", "p95"),
    ("VaR (USD)", "var"),
    ("ES (USD)", "es"),
    ("Worst (USD)", "worst"),
]


def _window_rows(gaps, gap_label):
    """Per horizon, the regular historical gap windows: how many, whether they form the gap
    tail (§10: only the 1-day windows do), and the worst (no figure recomputed)."""
    out = []
    windows = [r for r in gaps if r["kind"] == "historical" and r["name"].startswith("hist ")]
    for minutes in sorted({r["step_minutes"] for r in windows}):
        rows = [r for r in windows if r["step_minutes"] == minutes]
        worst = max(rows, key=lambda r: r["shortfall_usd"])
        in_tail = any(r["in_tail"] for r in rows)
        out.append(
            {
                "label": f"{families.horizon_text(minutes)} gaps",
                "windows": formats.count(len(rows)),
                "tail": f"yes: the gap tail ({gap_label})" if in_tail else "no: scenarios only",
                "worst": worst["name"],
                "worst_usd": formats.rounded_money(worst["shortfall_usd"]),
            }
        )
    return out


def _distribution_rows(tails):
    """The stored shortfall distribution summary of each family (``engine.tail.shortfall_distribution``)."""
    out = []
    for t in tails:
        d = t.get("distribution")
        if not d:
            continue
        q = d.get("quantiles") or {}
        out.append(
            {
                "label": families.tail_label(t),
                "n": formats.count(d["n"]),
                "with_shortfall": f"{formats.count(d['with_shortfall'])} ({formats.share(d['share_with_shortfall'])})",
                "mean": formats.rounded_money(d["mean_usd"]),
                "median": formats.rounded_money(d["median_usd"]),
                "p90": formats.rounded_money(q.get("p90")),
                "p95": formats.rounded_money(q.get("p95")),
                "var": formats.rounded_money(t["var_usd"]),
                "es": formats.rounded_money(t["es_usd"]),
                "worst": formats.rounded_money(d["max_usd"]),
            }
        )
    return out


def _family_sections(rows, tails, fund, alpha):
    """One distribution chart per historical path family present (VaR/ES named by family)."""
    charts = []
    for fam, label in PATH_FAMILIES:
        t = next((x for x in tails if x.get("family") == fam), None)
        fam_rows = [r for r in rows if r["family"] == fam]
        if t is None or not fam_rows:
            continue
        charts.append(
            c.chart(
                f"stress-tail-{fam.replace('_', '-')}",
                hf.tail_figure(
                    [r["shortfall_usd"] for r in fam_rows],
                    var=t["var_usd"],
                    es=t["es_usd"],
                    insurance_fund=fund,
                    alpha=alpha,
                    label=label,
                ),
                fam_rows,
                SCENARIO_COLUMNS,
            )
        )
    return charts


def _tail_rows(tails):
    return [
        {
            "label": families.tail_label(t),
            "scenarios": t["scenarios"],
            "var": formats.rounded_money(t["var_usd"]),
            "es": formats.rounded_money(t["es_usd"]),
            "mean": formats.rounded_money(t.get("mean_shortfall_usd", 0.0)),
            "worst": formats.rounded_money(t.get("worst_shortfall_usd", 0.0)),
            "cover2": formats.rounded_money(t["cover2_usd"]),
            "coverage": c.ratio(t["coverage_at_es"]),
            "interpolated": formats.share(t.get("mean_interpolated_share", 0.0)),
        }
        for t in tails
    ]


def _base_point(obj) -> dict | None:
    """The run's base state (no price move, RISK_MODEL §8) as the shock curve's 0 % point:
    the stored base-pass shortfall (USD) and liquidatable accounts; ADL is not stored for the
    base pass, so it is left out (the hover says "not computed"). ``None`` before publication."""
    if obj.shortfall_usd is None:
        return None
    return {
        "shortfall_usd": obj.shortfall_usd,
        "liquidatable_accounts": obj.liquidatable_accounts or 0,
        "adl_usd": None,
    }


def _gap_tail(gaps: list[dict]) -> list[dict]:
    """The gap scenarios of the tail (every gap scenario when none is marked)."""
    return [r for r in gaps if r["in_tail"]] or gaps


@c.csv_source("stress-gap-tail")
def gap_tail_csv(run: int) -> tuple[list[dict], list[str]]:
    """The rows and columns of the gap-tail chart's CSV for published run ``run`` (its
    3,000-odd scenarios are too many to ship with the page); no rows for a run not published."""
    obj = selectors.published_run(run) if run not in (None, "") else None
    rows = [r.as_dict() for r in selectors.run_scenario_rows(obj)] if obj is not None else []
    return _gap_tail([r for r in rows if r["family"] == "gap"]), SCENARIO_COLUMNS


def layout(run: str | None = None, **_kwargs):
    """Scenarios, tail, cascade and ADL of a published run (``?run=``)."""
    obj = selectors.published_run(run, with_json=("cascade", "adl", "tails", "replay"))
    if obj is None:
        return html.Div([html.H1("Stress and coverage"), c.no_run()])
    rows = [r.as_dict() for r in selectors.run_scenario_rows(obj)]
    gaps = [r for r in rows if r["family"] == "gap"]
    standard = [r for r in gaps if r["kind"] != "historical"]
    gap_tail = _gap_tail(gaps)
    tails = list(obj.tails or [])
    gap_t = next((t for t in tails if t.get("family") == "gap"), None)
    headline = (obj.tail or {}).get("population") or "gaps"
    gap_label = families.tail_label(gap_t) if gap_t else "gaps"
    replay = obj.replay or {}
    fund = obj.insurance_fund_usd or 0.0
    alpha = obj.tail_alpha or 0.99
    table_rows = [
        {
            **r,
            "shortfall_usd": formats.rounded_money(r["shortfall_usd"]),
            "insurance_fund_after_usd": formats.rounded_money(r["insurance_fund_after_usd"]),
            "adl_usd": formats.rounded_money(r["adl_usd"]),
            "coverage": c.ratio(r["coverage_ratio"]),
            "horizon": families.gap_horizon(r["kind"], r["step_minutes"]),
        }
        for r in standard
    ]
    cascade, adl = obj.cascade or {}, obj.adl or {}
    return html.Div(
        [
            html.H1("Stress and coverage"),
            c.run_header(obj),
            c.cards(
                [
                    c.card(
                        "stress-var",
                        families.measure_label("VaR", alpha, headline),
                        c.usd(obj.var_usd),
                        f"k = {obj.tail.get('k')}",
                    ),
                    c.card("stress-es", families.measure_label("ES", alpha, headline), c.usd(obj.es_usd)),
                    c.card("stress-cover2", f"Cover-2, {headline}", c.usd(obj.cover2_usd)),
                    c.card("stress-fund", "Insurance fund", c.usd(fund)),
                    c.card("stress-coverage-es", f"Coverage at ES, {headline}", c.ratio(obj.coverage_at_es)),
                    c.card("stress-worst", "Worst scenario", str(obj.tail.get("worst_scenario") or "—")),
                ]
            ),
            html.H2("Tails by scenario family"),
            c.table("stress-tails", _tail_rows(tails), TAIL_TABLE),
            html.Div(_family_sections(rows, tails, fund, alpha), className="grid2"),
            html.H3("Shortfall distribution by family"),
            c.table("stress-distribution", _distribution_rows(tails), DISTRIBUTION_TABLE),
            html.H2("Worst 1-day path, step by step"),
            c.chart(
                "stress-replay",
                hf.path_replay_figure(replay) if replay else None,
                [
                    {"step": i + 1, "shortfall_usd": s, "mm_coverage": m}
                    for i, (s, m) in enumerate(
                        zip(replay.get("shortfall_by_step_usd", []), replay.get("mm_coverage", []), strict=False)
                    )
                ],
                ["step", "shortfall_usd", "mm_coverage"],
            )
            if replay
            else html.P("No 1-day historical paths in this run.", className="muted"),
            html.P(
                f"{replay.get('scenario')} (from {str(replay.get('start', ''))[:16]} UTC, {replay.get('steps')} steps"
                f" of {replay.get('step_minutes')} min): interpolated steps "
                f"{formats.share(replay.get('interpolated_share', 0.0))}, "
                f"shortfall {c.usd(replay.get('shortfall_usd'))}, most at step {replay.get('worst_step')}.",
                id="replay-summary",
            )
            if replay
            else None,
            html.H2("Gap scenarios (T = 1), apart from the paths"),
            html.P(
                f"The gap tail is the {gap_label} only (RISK_MODEL §10: one horizon per family, never pooled); "
                "longer windows and the standard scenarios are scenarios, in no tail.",
                id="gap-tail-note",
                className="muted small",
            ),
            c.table("stress-gap-windows", _window_rows(gaps, gap_label), WINDOW_TABLE),
            c.chart("stress-scenarios", hf.scenario_bars_figure(standard, fund), standard, SCENARIO_COLUMNS),
            html.Div(
                [
                    c.chart(
                        "stress-shock",
                        hf.shock_curve_figure(rows, base=_base_point(obj)),
                        [r for r in rows if r["shock"] is not None],
                        SCENARIO_COLUMNS,
                    ),
                    c.chart(
                        "stress-tail",
                        hf.tail_figure(
                            [r["shortfall_usd"] for r in gap_tail],
                            var=(gap_t or {}).get("var_usd", obj.var_usd) or 0.0,
                            es=(gap_t or {}).get("es_usd", obj.es_usd) or 0.0,
                            insurance_fund=fund,
                            alpha=alpha,
                            label=gap_label,
                        ),
                        source=("stress-gap-tail", {"run": obj.pk}),
                    ),
                ],
                className="grid2",
            ),
            html.H2("Cascade and ADL of the worst gap scenario"),
            html.P(
                f"{cascade.get('n_rounds', 0)} rounds, {c.count(cascade.get('liquidated_accounts'))} accounts"
                f" liquidated, shortfall {c.usd(cascade.get('shortfall_usd'))}, ADL {c.usd(cascade.get('adl_usd'))}"
                f" ({'converged' if cascade.get('converged') else 'round limit reached'}).",
                id="cascade-summary",
            )
            if cascade
            else html.P("No cascade: no scenario produced a shortfall.", className="muted"),
            html.Div(
                [
                    c.chart(
                        "stress-cascade",
                        hf.cascade_figure(cascade) if cascade else None,
                        cascade.get("rounds", []),
                        ["round", "liquidated_accounts", "liquidated_units", "shortfall_usd", "penalties_usd"],
                    ),
                    c.chart(
                        "stress-adl",
                        hf.adl_figure(adl) if adl else None,
                        adl.get("by_market", []),
                        ["market", "shortfall_longs_usd", "shortfall_shorts_usd", "adl_longs_usd", "adl_shorts_usd"],
                    ),
                ],
                className="grid2",
            ),
            html.H2("Standard gap scenarios"),
            c.table("stress-table", table_rows, TABLE),
        ]
    )
