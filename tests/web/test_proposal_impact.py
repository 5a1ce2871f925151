"""The proposal page shows the frozen impact (RISK_MODEL §15) formatted, both sides of the
trade-off: cost to traders, protection of the venue per scenario family, the frontier of
each changed market (chart and points, current and proposed marked); never raw floats or
JSON. Notes and failures are said in plain words; a pending impact keeps its message."""

import csv
import io
import re

import pytest
from django.urls import reverse

from riskgov.governance import services as gs
from riskgov.governance.models import Proposal
from riskgov.health.models import AccountResult

pytestmark = pytest.mark.django_db

RAW_FLOAT = re.compile(r"\d\.\d{6,}")


def impact_html(page: str) -> str:
    """The impact section of a proposal page."""
    return page.split('id="impact"', 1)[1].split("<h2>Votes</h2>", 1)[0]


def visible(html: str) -> str:
    """The section's text without its inline SVG (whose coordinates are numbers, not figures)."""
    return re.sub(r"<svg.*?</svg>", "", html, flags=re.S)


def test_the_vote_page_shows_both_sides_of_a_real_frozen_impact(client, people, impact_proposal):
    p = impact_proposal
    impact = p.impact
    assert impact["cost"] and impact["protection"] and impact["frontier"]  # a real §15 document
    client.force_login(people["m1"])
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    section = impact_html(page)
    text = visible(section)
    # no raw floats, no JSON
    assert not RAW_FLOAT.search(text), RAW_FLOAT.search(text)
    assert "{" not in text and '"format"' not in text and "riskgov.impact/1" not in text
    assert "E-" not in text and "+0E" not in text
    # cost to traders: money with separators and USD sign, signed deltas
    assert "Cost to traders" in section
    cost = impact["cost"]
    assert f"+${cost['delta_maintenance_margin_usd']:,.0f}" in section  # the sign before the dollar
    assert f"+${cost['delta_initial_margin_usd']:,.0f}" in section
    assert re.search(r"\+\$\d{1,3}(,\d{3})+", section) and not re.search(r"\$[+\-\u2212]\d", section)
    assert "Accounts newly liquidatable now" in section and "Accounts newly below IM" in section
    lev = section.split('id="impact-leverage"')[1].split("</table>")[0]
    assert "100×" in lev and "50×" in lev and "$300,000" in lev
    # protection per family, each figure named with its family and horizon
    assert "Protection of the venue, per scenario family" in section
    for label in ("ES 99 %, 1-day paths", "VaR 99 %, 3-day paths", "ES 99 %, 1-day trends", "ES 99 %, 1-day gaps"):
        assert label in section, label
    assert "Coverage at ES 99 %, 1-day paths" in section and "Mean ADL, 1-day paths" in section
    assert "Worst shortfall, 3-day paths" in section and "Mean bankrupt accounts, 1-day paths" in section
    assert re.search(r"\d+\.\d %", section)  # coverage as percent
    # standard scenarios before/after
    scen = section.split('id="impact-scenarios-table"')[1].split("</table>")[0]
    first = impact["scenarios"][0]
    assert first["name"] in scen and f"${first['current_shortfall_usd']:,.0f}" in scen
    # the frontier: chart (inline SVG) and the points with current and proposed marked
    (fr,) = impact["frontier"]
    assert 'id="impact-frontier-BTC-PERP"' in section and "<svg" in section
    points = section.split('id="impact-frontier-points-BTC-PERP"')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr[^>]*><td>(.*?)</td><td class=\"num\">(.*?)</td><td class=\"num\">(.*?)</td><td>(.*?)</td></tr>", points
    )
    assert [r[0] for r in rows][:7] == ["×0.5", "×0.75", "×1", "×1.25", "×1.5", "×2", "×3"]
    marks = {r[0]: re.sub("<.*?>", "", r[3]) for r in rows}
    assert marks["×1"] == "current" and marks["×2"] == "proposed"  # the stricter table doubles the fractions
    assert marks["current table"] == "current" and marks["proposed table"] == "proposed"
    assert (rows[0][1], rows[0][2]) == (f"${fr['points'][0]['mm_usd']:,.0f}", f"${fr['points'][0]['es_usd']:,.0f}")
    # the run totals side by side
    assert f"${impact['proposed']['totals']['maintenance_margin_usd']:,.0f}" in section
    # the frontier CSV holds the raw points
    csv_url = reverse("proposal-impact-frontier-csv", args=[p.pk])
    assert csv_url in section
    body = client.get(csv_url).content.decode()
    data = list(csv.DictReader(io.StringIO(body)))
    assert len(data) == 9 and float(data[0]["mm_usd"]) == pytest.approx(fr["points"][0]["mm_usd"])
    assert [d["marked"] for d in data[-2:]] == ["current", "proposed"]
    # sampled newly liquidatable accounts link to their account page in the proposed run
    run = impact["proposed"]["run"]
    acct = AccountResult.objects.filter(run_id=run).order_by("account_idx").first()
    assert acct is not None
    Proposal.objects.filter(pk=p.pk).update(
        impact={**impact, "newly_liquidatable_sample": [acct.account_id, "gone-1"], "newly_liquidatable_accounts": 2}
    )
    section = impact_html(client.get(reverse("proposal-detail", args=[p.pk])).content.decode())
    sample = section.split('id="impact-newly-sample"')[1].split("</p>")[0]
    assert f'<a href="/dash/account?run={run}&amp;idx={acct.account_idx}">{acct.account_id}</a>' in sample
    assert "gone-1" in sample and "gone-1</a>" not in sample  # no stored row: no link


def test_an_impact_note_and_a_missing_current_run_are_said_in_words(client, people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    doc = {
        "format": "riskgov.impact/1",
        "snapshot": 3,
        "proposed": {"run": 7, "totals": {"maintenance_margin_usd": 474151.10678982356}, "tail": {"es_usd": 1234.5}},
        "current": {"run": 6, "totals": {"maintenance_margin_usd": 400000.0}, "tail": {"es_usd": 2234.5}},
        "newly_liquidatable_accounts": 1234,
        "delta_maintenance_margin_usd": 74151.10678982356,
        "delta_shortfall_usd": -1e-9,
        "impact_note": "§15 comparison not available: the two sets cover different markets",
    }
    gs.proposal_record_impact(proposal=p, impact=doc, revision=p.revision)
    client.force_login(people["m1"])
    section = impact_html(client.get(reverse("proposal-detail", args=[p.pk])).content.decode())
    assert "§15 comparison not available: the two sets cover different markets." in section
    assert "$474,151" in section and "+$74,151" in section and "1,234" in section
    assert "−$1,000" in section  # Δ ES, proposed − current
    assert not RAW_FLOAT.search(section) and "{" not in section
    assert "Protection of the venue" not in section  # no §15 sections to show

    q = gs.proposal_submit(proposal=make_proposal(title="no current run"), by=people["analyst"])
    note = "no published run of the active parameters on this snapshot: nothing to compare with"
    doc = {
        "format": "riskgov.impact/1",
        "snapshot": 3,
        "proposed": {"run": 8, "totals": {"equity_usd": 1e6}},
        "current": None,
        "note": note,
    }
    gs.proposal_record_impact(proposal=q, impact=doc, revision=q.revision)
    section = impact_html(client.get(reverse("proposal-detail", args=[q.pk])).content.decode())
    assert "No published run of the active parameters on this snapshot: nothing to compare with." in section
    assert "$1,000,000" in section


def test_a_failed_impact_run_is_said_and_a_pending_one_keeps_its_message(client, people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    client.force_login(people["m1"])
    section = impact_html(client.get(reverse("proposal-detail", args=[p.pk])).content.decode())
    assert "Impact analysis pending" in section and 'data-state="pending"' in section
    gs.proposal_record_impact(
        proposal=p,
        impact={"format": "riskgov.impact/1", "proposed": {"run": 4}, "error": "worker lost"},
        revision=p.revision,
    )
    section = impact_html(client.get(reverse("proposal-detail", args=[p.pk])).content.decode())
    assert "The impact run failed, so there are no figures to compare" in section and "worker lost" in section


def test_an_older_impact_document_is_shown_formatted(client, people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    gs.proposal_record_impact(
        proposal=p,
        impact={
            "newly_liquidatable": {"current": 2, "proposed": 5},
            "total_mm_usd": {"current": 10.25, "proposed": 1234567.891},
            "scenario_names": ["crash", "gap"],
            "blob": {"nested": [{"a": 1}]},
        },
        revision=p.revision,
    )
    client.force_login(people["viewer"])
    section = impact_html(client.get(reverse("proposal-detail", args=[p.pk])).content.decode())
    assert "Newly liquidatable" in section and "+3" in section
    assert "$10.25" in section and "$1,234,568" in section and "+$1,234,558" in section
    assert "crash, gap" in section and "1 entries" in section
    assert "{" not in section and not RAW_FLOAT.search(section)
