"""Proposal impact: for a chosen proposal, current vs proposed side by side — IM/MM totals,
newly liquidatable accounts, coverage under stress, and MM-vs-notional curves old vs new;
both sides of RISK_MODEL §15: the cost to traders, the protection of the venue per scenario
family, and the (MM, ES) frontier of each changed market with current and proposed marked.

Figures are the impact frozen on the proposal (what its approvers sign, DESIGN "impact"),
read from ``Proposal.impact`` through the read model the committee's proposal page shows too
(``governance.read_models.proposal_impact``: formatted rows); nothing is recomputed. The
charts plot the document's raw values.
"""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import auth
from dashboards import components as c
from riskgov.governance import selectors as gov
from riskgov.governance.read_models import proposal_impact
from riskgov.parameters.selectors import market_version_curve
from riskgov.presentation.figures import brackets as figures
from riskgov.presentation.figures import health as hf
from riskgov.presentation.impact import ImpactView

dash.register_page(__name__, path="/impact", title="Proposal impact · riskgov", name="Proposal impact", order=3)

SCENARIO_COLUMNS = [
    "name",
    "kind",
    "current_shortfall_usd",
    "proposed_shortfall_usd",
    "delta_shortfall_usd",
    "current_coverage_ratio",
    "proposed_coverage_ratio",
    "current_liquidatable_accounts",
    "proposed_liquidatable_accounts",
]


#: element ids of the headline cards (browser tests read them), by document key
HEADLINE_IDS = {
    "newly_liquidatable_accounts": "impact-newly",
    "no_longer_liquidatable_accounts": "impact-no-longer",
    "delta_initial_margin_usd": "impact-delta-im",
    "delta_maintenance_margin_usd": "impact-delta-mm",
    "delta_shortfall_usd": "impact-delta-shortfall",
}


def comparison_rows(view: ImpactView) -> list[dict]:
    """The side-by-side table rows: stored key, label, current and proposed (formatted)."""
    return [{"measure": r.label, "key": r.key, "current": r.current, "proposed": r.proposed} for r in view.summary]


PROTECTION_TABLE = [
    ("Family", "family"),
    ("Scenarios", "scenarios"),
    ("ES now", "es_now"),
    ("ES proposed", "es_new"),
    ("Δ VaR", "d_var"),
    ("Δ ES", "d_es"),
    ("Δ mean shortfall", "d_mean"),
    ("Δ worst shortfall", "d_worst"),
    ("Δ coverage at ES", "d_cov"),
    ("Δ mean ADL", "d_adl"),
    ("Δ mean bankrupt", "d_bk"),
]


def protection_rows(view: ImpactView) -> list[dict]:
    """Per family: ES of each side and the §15 differences (proposed − current), formatted."""
    out = []
    for fam in view.protection:
        r = fam.by_key()
        out.append(
            {
                "family": fam.label,
                "scenarios": fam.scenarios,
                "es_now": r["es_usd"].current,
                "es_new": r["es_usd"].proposed,
                "d_var": r["var_usd"].delta,
                "d_es": r["es_usd"].delta,
                "d_mean": r["mean_shortfall_usd"].delta,
                "d_worst": r["worst_shortfall_usd"].delta,
                "d_cov": r["coverage_at_es"].delta,
                "d_adl": r["mean_adl_usd"].delta,
                "d_bk": r["mean_bankrupt_accounts"].delta,
            }
        )
    return out


def cost_section(view: ImpactView) -> list:
    """§15 cost to traders: cards and per-market ΔIM/ΔMM, with the leverage per bracket."""
    if not view.cost:
        return []
    ids = {
        "delta_maintenance_margin_usd": "impact-cost-mm",
        "delta_initial_margin_usd": "impact-cost-im",
        "newly_liquidatable_accounts": "impact-cost-newly",
        "newly_below_im_accounts": "impact-cost-below-im",
        "top_up_usd": "impact-cost-topup",
    }
    parts = [
        html.H2("Cost to traders"),
        c.cards(c.card(ids.get(f.key, f"impact-cost-{f.key}"), f.label, f.value, f.note) for f in view.cost),
        c.table(
            "impact-cost-markets",
            [{"market": m.market, "d_im": m.delta_im, "d_mm": m.delta_mm} for m in view.cost_markets],
            [("Market", "market"), ("Δ IM", "d_im"), ("Δ MM", "d_mm")],
        ),
    ]
    if view.leverage:
        parts.append(
            c.table(
                "impact-leverage",
                [{"market": b.market, "floor": b.floor, "now": b.current, "new": b.proposed} for b in view.leverage],
                [("Market", "market"), ("From notional", "floor"), ("Max leverage now", "now"), ("Proposed", "new")],
            )
        )
    return parts


def protection_section(impact: dict, view: ImpactView) -> list:
    """§15 protection of the venue per family and the frontier of each changed market."""
    parts = []
    if view.protection:
        parts += [
            html.H2("Protection of the venue, per scenario family"),
            c.table("impact-protection", protection_rows(view), PROTECTION_TABLE),
        ]
    for fr in impact.get("frontier") or []:
        parts.append(
            c.chart(
                f"impact-frontier-{fr['market']}",
                hf.frontier_figure(fr),
                [
                    *(
                        {"table": f"×{p['multiplier']:g}", "mm_usd": p["mm_usd"], "es_usd": p["es_usd"]}
                        for p in fr["points"]
                    ),
                    {"table": "current", **fr["current"]},
                    {"table": "proposed", **fr["proposed"]},
                ],
                ["table", "mm_usd", "es_usd"],
            )
        )
    return parts


def layout(proposal: str | None = None, **_kwargs):
    """The proposal picker (``?proposal=``) and the chosen proposal's body (``show_proposal``;
    drawn here, so the page needs no callback round trip on load)."""
    options = [{"label": f"#{p.pk} {p.title} ({p.status})", "value": p.pk} for p in gov.proposals_with_impact()[:200]]
    values = [o["value"] for o in options]
    chosen = (
        int(proposal)
        if proposal and proposal.isdigit() and int(proposal) in values
        else (values[0] if values else None)
    )
    return html.Div(
        [
            html.H1("Proposal impact"),
            html.P(
                "Current parameters against a proposal's, on the same snapshot: the impact frozen on the proposal.",
                className="muted",
            ),
            html.Label("Proposal", htmlFor="impact-proposal"),
            dcc.Dropdown(
                id="impact-proposal", options=options, value=chosen, clearable=False, style={"maxWidth": "640px"}
            ),
            html.Div(show_proposal(chosen), id="impact-body"),
        ]
    )


@callback(Output("impact-body", "children"), Input("impact-proposal", "value"), prevent_initial_call=True)
def show_proposal(proposal_id):
    """A proposal's frozen impact, current vs proposed, with the actions the user may take."""
    if proposal_id is None:
        return html.P(
            "No proposal has impact results yet: they are computed when a proposal is submitted.", id="no-impact"
        )
    p = gov.proposals_with_impact().filter(pk=proposal_id).first()
    if p is None:
        return html.P("No such proposal with impact results.", id="no-impact")
    impact = p.impact or {}
    view = proposal_impact(p)
    if view.state == "failed":
        return html.P(f"The impact run failed: {view.error}", className="error")
    actions = gov.proposal_allowed_actions(p, auth.current_user())
    links = [
        html.A("Vote on it", href=f"/proposals/{p.pk}/#vote", id="impact-vote-link", className="button")
        if actions.vote
        else None,
        html.A("Edit it", href=f"/proposals/{p.pk}/edit/", id="impact-edit-link", className="button secondary")
        if actions.edit
        else None,
    ]
    parts = [
        html.Div([x for x in links if x is not None], className="actions"),
        html.P(
            [
                html.A(f"Open proposal #{p.pk} (votes, diff, timeline)", href=f"/proposals/{p.pk}/"),
                f" · impact of revision {p.impact_revision}, frozen from the {view.source}",
            ]
        ),
        c.cards(c.card(HEADLINE_IDS.get(f.key, f"impact-{f.key}"), f.label, f.value) for f in view.headline),
    ]
    parts += [html.P(note, className="warning") for note in view.notes]
    parts += [
        html.H2("Current vs proposed"),
        c.table(
            "impact-table",
            comparison_rows(view),
            [("Measure", "measure"), ("Current", "current"), ("Proposed", "proposed")],
        ),
    ]
    scenarios = impact.get("scenarios", [])
    if scenarios:
        parts.append(c.chart("impact-scenarios", hf.impact_scenarios_figure(scenarios), scenarios, SCENARIO_COLUMNS))
    if view.scenarios:
        parts.append(
            c.table(
                "impact-coverage",
                [
                    {
                        "name": r.name,
                        "family": r.family,
                        "current_shortfall": r.before,
                        "proposed_shortfall": r.after,
                        "delta_shortfall": r.delta,
                        "current_coverage": r.coverage_before,
                        "proposed_coverage": r.coverage_after,
                        "current_liq": r.liquidated_before,
                        "proposed_liq": r.liquidated_after,
                    }
                    for r in view.scenarios
                ],
                [
                    ("Scenario", "name"),
                    ("Family", "family"),
                    ("Shortfall now", "current_shortfall"),
                    ("Shortfall proposed", "proposed_shortfall"),
                    ("Δ shortfall", "delta_shortfall"),
                    ("Coverage now", "current_coverage"),
                    ("Coverage proposed", "proposed_coverage"),
                    ("Liquidated now", "current_liq"),
                    ("Liquidated proposed", "proposed_liq"),
                ],
            )
        )
    parts += cost_section(view)
    parts += protection_section(impact, view)
    if view.newly_liquidatable:
        parts.append(
            html.P(
                [
                    f"Newly liquidatable ({len(view.newly_liquidatable)} of {view.newly_liquidatable_total}): ",
                    *(
                        html.Span([html.A(a.account_id, href=a.url) if a.url else a.account_id, " "])
                        for a in view.newly_liquidatable
                    ),
                ],
                className="small",
                id="impact-newly-sample",
            )
        )
    for ch in gov.proposal_changes(p):
        if not ch.market_version_id:
            continue
        curves = []
        if ch.base_market_version is not None:
            curves.append(
                market_version_curve(ch.base_market_version, label=f"current v{ch.base_market_version.number}")
            )
        curves.append(market_version_curve(ch.market_version, label=f"proposed (#{p.pk})"))
        parts.append(
            c.chart(
                f"impact-curve-{ch.subject}",
                figures.maintenance_margin_figure(curves, market=ch.subject),
                [
                    {"source": cv.label, "bracket": k + 1, "floor": f, "imf": i, "mmf": m, "maintenance_amount": a}
                    for cv in curves
                    for k, (f, i, m, a) in enumerate(
                        zip(cv.floors, cv.imf, cv.mmf, cv.maintenance_amounts, strict=True)
                    )
                ],
                ["source", "bracket", "floor", "imf", "mmf", "maintenance_amount"],
            )
        )
    return html.Div(parts)
