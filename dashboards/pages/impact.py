"""Proposal impact: for a chosen proposal, current vs proposed side by side — IM/MM totals,
newly liquidatable accounts, coverage under stress, and MM-vs-notional curves old vs new;
both sides of RISK_MODEL §15: the cost to traders, the protection of the venue per scenario
family, and the (MM, ES) frontier of each changed market with current and proposed marked.

Figures are the impact frozen on the proposal (what its approvers sign, DESIGN "impact"),
read from ``Proposal.impact``; nothing is recomputed.
"""

from __future__ import annotations

from functools import partial

import dash
from dash import Input, Output, callback, dcc, html

from dashboards import auth
from dashboards import components as c
from riskgov.governance import selectors as gov
from riskgov.parameters.selectors import market_version_curve
from riskgov.presentation import fields
from riskgov.presentation.figures import brackets as figures
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/impact", title="Proposal impact · riskgov", name="Proposal impact", order=3)

#: (label, stored field); each value is formatted by its field kind (``presentation.fields``)
SIDE_BY_SIDE = [
    ("Equity", "equity_usd"),
    ("Initial margin", "initial_margin_usd"),
    ("Maintenance margin", "maintenance_margin_usd"),
    ("Liquidatable accounts", "liquidatable_accounts"),
    ("Bankrupt accounts", "bankrupt_accounts"),
    ("Shortfall now", "shortfall_usd"),
    ("VaR", "var_usd"),
    ("ES", "es_usd"),
    ("Cover-2", "cover2_usd"),
    ("Coverage at ES", "coverage_at_es"),
]
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


def _figures_of(side: dict | None) -> dict:
    return {**(side or {}).get("totals", {}), **(side or {}).get("tail", {})} if side else {}


def comparison_rows(impact: dict) -> list[dict]:
    """The side-by-side table rows: label, current, proposed (formatted) and raw values."""
    cur, new = _figures_of(impact.get("current")), _figures_of(impact.get("proposed"))
    rows = []
    for label, k in SIDE_BY_SIDE:
        fmt = partial(fields.format_field, k)
        rows.append(
            {
                "measure": label,
                "key": k,
                "current": fmt(cur.get(k)) if cur else "—",
                "proposed": fmt(new.get(k)),
                "current_value": cur.get(k),
                "proposed_value": new.get(k),
            }
        )
    return rows


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
FAMILY_LABELS = {"gap": "gaps", "trend": "1-day trends", "path_1d": "1-day paths", "path_3d": "3-day paths"}


def protection_rows(impact: dict) -> list[dict]:
    """Per family: ES of each side and the §15 differences (proposed − current), formatted."""
    out = []
    for p in impact.get("protection") or []:
        d_cov = p.get("delta_coverage_at_es")
        out.append(
            {
                "family": FAMILY_LABELS.get(p["family"], p["family"]),
                "scenarios": p["scenarios"],
                "es_now": c.usd(p["current"]["es_usd"]),
                "es_new": c.usd(p["proposed"]["es_usd"]),
                "d_var": c.usd(p["delta_var_usd"]),
                "d_es": c.usd(p["delta_es_usd"]),
                "d_mean": c.usd(p["delta_mean_shortfall_usd"]),
                "d_worst": c.usd(p["delta_worst_shortfall_usd"]),
                "d_cov": "—" if d_cov is None else f"{d_cov:+.3f}",
                "d_adl": c.usd(p["delta_mean_adl_usd"]),
                "d_bk": f"{p['delta_mean_bankrupt_accounts']:+.2f}",
            }
        )
    return out


def cost_section(impact: dict) -> list:
    """§15 cost to traders: cards and per-market ΔIM/ΔMM, with the leverage per bracket."""
    cost = impact.get("cost")
    if not cost:
        return []
    parts = [
        html.H2("Cost to traders"),
        c.cards(
            [
                c.card("impact-cost-mm", "Δ maintenance margin", c.usd(cost["delta_maintenance_margin_usd"])),
                c.card("impact-cost-im", "Δ initial margin", c.usd(cost["delta_initial_margin_usd"])),
                c.card("impact-cost-newly", "Newly liquidatable now", c.count(cost["newly_liquidatable_accounts"])),
                c.card("impact-cost-below-im", "Newly below IM", c.count(cost["newly_below_im_accounts"])),
                c.card("impact-cost-topup", "Top-up needed (Σ max(0, IM − E))", c.usd(cost["top_up_usd"])),
            ]
        ),
        c.table(
            "impact-cost-markets",
            [
                {
                    "market": r["market"],
                    "d_im": c.usd(r["delta_initial_margin_usd"]),
                    "d_mm": c.usd(r["delta_maintenance_margin_usd"]),
                }
                for r in cost["per_market"]
            ],
            [("Market", "market"), ("Δ IM", "d_im"), ("Δ MM", "d_mm")],
        ),
    ]
    lev = [
        {
            "market": m["market"],
            "floor": c.usd(b["floor_usd"]),
            "now": f"{b['current']:.1f}×",
            "new": f"{b['proposed']:.1f}×",
        }
        for m in cost.get("max_leverage", [])
        for b in m["brackets"]
    ]
    if lev:
        parts.append(
            c.table(
                "impact-leverage",
                lev,
                [("Market", "market"), ("From notional", "floor"), ("Max leverage now", "now"), ("Proposed", "new")],
            )
        )
    return parts


def protection_section(impact: dict) -> list:
    """§15 protection of the venue per family and the frontier of each changed market."""
    parts = []
    if impact.get("impact_note"):
        parts.append(html.P(impact["impact_note"], className="warning"))
    if impact.get("protection"):
        parts += [
            html.H2("Protection of the venue, per scenario family"),
            c.table("impact-protection", protection_rows(impact), PROTECTION_TABLE),
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
    if impact.get("error"):
        return html.P(f"The impact run failed: {impact['error']}", className="error")
    rows = comparison_rows(impact)
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
                f" · impact of revision {p.impact_revision}; runs #{(impact.get('current') or {}).get('run', '—')}"
                f" (current) and #{impact['proposed']['run']} (proposed) on snapshot #{impact.get('snapshot')}",
            ]
        ),
        c.cards(
            [
                c.card(
                    "impact-newly", "Newly liquidatable accounts", c.count(impact.get("newly_liquidatable_accounts"))
                ),
                c.card(
                    "impact-no-longer", "No longer liquidatable", c.count(impact.get("no_longer_liquidatable_accounts"))
                ),
                c.card("impact-delta-im", "Δ initial margin", c.usd(impact.get("delta_initial_margin_usd"))),
                c.card("impact-delta-mm", "Δ maintenance margin", c.usd(impact.get("delta_maintenance_margin_usd"))),
            ]
        ),
    ]
    if impact.get("note"):
        parts.append(html.P(impact["note"], className="warning"))
    parts += [
        html.H2("Current vs proposed"),
        c.table("impact-table", rows, [("Measure", "measure"), ("Current", "current"), ("Proposed", "proposed")]),
    ]
    scenarios = impact.get("scenarios", [])
    if scenarios:
        parts.append(c.chart("impact-scenarios", hf.impact_scenarios_figure(scenarios), scenarios, SCENARIO_COLUMNS))
        parts.append(
            c.table(
                "impact-coverage",
                [
                    {
                        "name": r["name"],
                        "current_shortfall": c.usd(r["current_shortfall_usd"]),
                        "proposed_shortfall": c.usd(r["proposed_shortfall_usd"]),
                        "current_coverage": c.ratio(r["current_coverage_ratio"]),
                        "proposed_coverage": c.ratio(r["proposed_coverage_ratio"]),
                        "current_liq": r["current_liquidatable_accounts"],
                        "proposed_liq": r["proposed_liquidatable_accounts"],
                    }
                    for r in scenarios
                ],
                [
                    ("Scenario", "name"),
                    ("Shortfall now", "current_shortfall"),
                    ("Shortfall proposed", "proposed_shortfall"),
                    ("Coverage now", "current_coverage"),
                    ("Coverage proposed", "proposed_coverage"),
                    ("Liquidated now", "current_liq"),
                    ("Liquidated proposed", "proposed_liq"),
                ],
            )
        )
    parts += cost_section(impact)
    parts += protection_section(impact)
    sample = impact.get("newly_liquidatable_sample") or []
    if sample:
        parts.append(html.P(f"Newly liquidatable (first {len(sample)}): {', '.join(sample)}", className="small"))
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
