"""Overview: key figures of the latest published run, their history, freshness and inputs."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html
from django.utils import timezone

from dashboards import auth
from dashboards import components as c
from riskgov.alerts.models import AlertKind
from riskgov.alerts.selectors import figure_thresholds
from riskgov.core.roles import ANALYST
from riskgov.health import selectors
from riskgov.presentation.figures import health as hf
from riskgov.snapshots.selectors import snapshot_price_age

dash.register_page(__name__, path="/overview", title="Overview · riskgov", name="Overview", order=0)


def _utilization(run) -> str:
    """MM as a share of equity, venue-wide (§5 margin ratio of the whole venue)."""
    if not run.equity_usd or run.equity_usd <= 0:
        return "—"
    return c.ratio(run.maintenance_margin_usd / run.equity_usd)


def _judged(thresholds: dict, kind: str, value, shown: str) -> tuple[str, str | None]:
    """(note, status) of a figure against the alert rule of ``kind`` (no rule: no colour)."""
    t = thresholds.get(kind)
    if t is None:
        return "", None
    bad = t.breached(value)
    if bad is None:
        return "", None
    word = "below" if t.bad_when == "below" else "above"
    limit = c.ratio(t.threshold) if kind == AlertKind.COVERAGE_AT_ES else c.share(t.threshold)
    verdict = f"{word} the alert threshold {limit}" if bad else f"within the alert threshold ({word} {limit} fires)"
    return f"{shown}{verdict} — rule “{t.rule}”", "bad" if bad else "ok"


def key_figures(run, thresholds: dict | None = None) -> html.Div:
    """The key-figure cards of a run (USD, counts; coverage as percent, ∞ when nothing to cover),
    coloured against the venue-wide alert rules (``alerts.selectors.figure_thresholds``)."""
    thresholds = thresholds or {}
    liq_share = run.liquidatable_accounts / run.n_accounts if run.n_accounts else None
    liq_note, liq_status = _judged(
        thresholds, AlertKind.LIQUIDATABLE_ACCOUNTS, liq_share, f"{c.share(liq_share)} of accounts; "
    )
    cov_note, cov_status = _judged(thresholds, AlertKind.COVERAGE_AT_ES, run.coverage_at_es, "fund / ES; ")
    return c.cards(
        [
            c.card("kpi-accounts", "Accounts", c.count(run.n_accounts), f"{c.count(run.n_positions)} positions"),
            c.card("kpi-equity", "Equity", c.usd(run.equity_usd)),
            c.card(
                "kpi-im",
                "Initial margin",
                c.usd(run.initial_margin_usd),
                f"{c.ratio(run.initial_margin_usd / run.equity_usd)} of equity" if run.equity_usd else "",
            ),
            c.card("kpi-mm", "Maintenance margin", c.usd(run.maintenance_margin_usd), f"{_utilization(run)} of equity"),
            c.card(
                "kpi-liquidatable",
                "Liquidatable accounts",
                c.count(run.liquidatable_accounts),
                liq_note or f"{c.share(liq_share)} of accounts",
                liq_status,
            ),
            c.card("kpi-bankrupt", "Bankrupt accounts", c.count(run.bankrupt_accounts)),
            c.card("kpi-shortfall", "Shortfall now", c.usd(run.shortfall_usd)),
            c.card("kpi-fund", "Insurance fund", c.usd(run.insurance_fund_usd)),
            c.card(
                "kpi-var",
                f"VaR {run.tail_alpha or 0.99:.1%}",
                c.usd(run.var_usd),
                f"over {c.count(run.tail_scenarios)} historical scenarios",
            ),
            c.card("kpi-es", f"ES {run.tail_alpha or 0.99:.1%}", c.usd(run.es_usd)),
            c.card(
                "kpi-coverage-es",
                "Coverage at ES",
                c.ratio(run.coverage_at_es),
                cov_note or "insurance fund / ES",
                cov_status,
            ),
            c.card("kpi-cover2", "Cover-2", c.usd(run.cover2_usd), "two largest account shortfalls"),
        ]
    )


def inputs(run) -> html.Dl:
    """The run's inputs: snapshot, parameters, scenarios, code version, input hash."""
    snap = run.snapshot
    items = [
        ("Snapshot", f"#{snap.pk} · {snap}"),
        ("Parameters", f"{run.parameters_name} {run.parameters_version}".strip() or "active versions"),
        ("Scenarios", f"{c.count(run.tail_scenarios)} in the tail population; worst: {run.tail.get('worst_scenario')}"),
        ("Code version", run.code_version or "—"),
        ("Input hash", run.input_hash or "—"),
        ("Started by", run.created_by_name or "schedule"),
    ]
    return html.Dl([x for k, v in items for x in (html.Dt(k), html.Dd(v))], className="inputs")


def progress_list(runs: list[dict]) -> html.Div:
    """Runs being computed, each with a progress bar (task progress in the UI)."""
    if not runs:
        return html.Div()
    return html.Div(
        [html.H2("Runs in progress")]
        + [
            html.P(
                [
                    f"Run #{r['id']} ({r['kind']}{', ' + r['label'] if r['label'] else ''}): {r['status']}, "
                    f"{r['chunks_done']}/{r['chunks_total']} chunks ",
                    html.Progress(value=str(r["progress"]), max="100", id=f"progress-{r['id']}"),
                    f" {r['progress']} %",
                ]
            )
            for r in runs
        ]
    )


@callback(
    Output("overview-progress", "children"), Input("overview-progress-tick", "n_intervals"), prevent_initial_call=True
)
def refresh_progress(_n):
    """Redraw the runs in progress (every 5 s; the layout draws them first)."""
    return progress_list(selectors.runs_in_progress(user=auth.current_user()))


def layout(run: str | None = None, **_kwargs):
    """Key figures, history, freshness and inputs of the latest (or ``?run=``) published run."""
    obj = selectors.published_run(run)
    head = [
        html.H1("Overview"),
        html.Div(progress_list(selectors.runs_in_progress(user=auth.current_user())), id="overview-progress"),
        dcc.Interval(id="overview-progress-tick", interval=5000),
    ]
    propose = c.action_link("Propose a parameter change", "/proposals/new/", ANALYST, link_id="propose-link")
    if propose is not None:
        head.append(html.P(propose))
    if obj is None:
        return html.Div([*head, c.no_run()])
    age = snapshot_price_age(snapshot=obj.snapshot, now=timezone.now())  # historical: its own date
    fresh = html.P(
        age.note,
        id="freshness",
        className="warning" if age.hours > selectors.freshness_limits().run_hours else "muted",
    )
    history = selectors.run_history()
    cols = ["id", "published_at", *selectors.KEY_FIGURES]
    return html.Div(
        [
            *head,
            c.run_header(obj),
            fresh,
            key_figures(obj, figure_thresholds()),
            html.H2("History"),
            html.Div(
                [
                    c.chart(
                        "overview-margin",
                        hf.history_figure(
                            history,
                            [("equity_usd", "equity"), ("initial_margin_usd", "IM"), ("maintenance_margin_usd", "MM")],
                            title="Equity and margin requirements",
                            y="USD",
                        ),
                        history,
                        cols,
                    ),
                    c.chart(
                        "overview-tail",
                        hf.history_figure(
                            history,
                            [
                                ("var_usd", "VaR"),
                                ("es_usd", "ES"),
                                ("cover2_usd", "Cover-2"),
                                ("insurance_fund_usd", "insurance fund"),
                                ("shortfall_usd", "shortfall now"),
                            ],
                            title="Tail risk and the insurance fund",
                            y="USD",
                        ),
                        history,
                        cols,
                    ),
                    c.chart(
                        "overview-accounts",
                        hf.history_figure(
                            history,
                            [("liquidatable_accounts", "liquidatable"), ("bankrupt_accounts", "bankrupt")],
                            title="Liquidatable and bankrupt accounts",
                            y="accounts",
                        ),
                        history,
                        cols,
                    ),
                    c.chart(
                        "overview-coverage",
                        hf.history_figure(
                            [
                                {
                                    **r,
                                    "coverage_at_es": None
                                    if r["coverage_at_es"] is None
                                    else r["coverage_at_es"] * 100,
                                }
                                for r in history
                            ],
                            [("coverage_at_es", "coverage at ES")],
                            title="Insurance-fund coverage at ES (missing point = nothing to cover)",
                            y="coverage (%)",
                        ),
                        history,
                        cols,
                    ),
                ],
                className="grid2",
            ),
            html.H2("Inputs"),
            inputs(obj),
        ]
    )
