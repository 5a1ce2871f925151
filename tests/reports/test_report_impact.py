"""The health report carries the frozen impact of each proposal awaiting a vote (RISK_MODEL
§15), formatted as on the vote page: cost to traders, protection per family (named with its
horizon), the frontier of each changed market with current and proposed marked."""

import io
import re

import pytest
from pypdf import PdfReader

from riskgov.presentation import formats
from riskgov.reports.services import report_build
from tests.governance_fixtures import people  # noqa: F401 — the proposal fixtures' people (an "analyst" proposes)

pytestmark = pytest.mark.django_db


@pytest.mark.pango
def test_the_report_shows_both_sides_and_the_frontier_of_a_proposal_awaiting_a_vote(impact_proposal):
    p = impact_proposal
    doc = p.impact
    assert doc["cost"] and doc["protection"] and doc["frontier"]
    report = report_build()
    (kept,) = [a for a in report.figures["governance"]["awaiting_vote"] if a["id"] == p.pk]
    assert kept["impact"]["frontier"] == doc["frontier"]  # the frozen figures, never recomputed
    html = report.html.read().decode()
    section = html.split(f'id="impact-{p.pk}"', 1)[1].split("</section>", 1)[0]
    text = re.sub(r"<svg.*?</svg>", "", section, flags=re.S)
    assert "Cost to traders" in text and formats.money(doc["cost"]["delta_maintenance_margin_usd"], signed=True) in text
    for fam in doc["protection"]:
        label = {"gap": "1-day gaps", "trend": "1-day trends", "path_1d": "1-day paths", "path_3d": "3-day paths"}
        assert f"<td>{label[fam['family']]}</td>" in text
        if round(fam["delta_es_usd"]):  # no change is shown as "—"
            assert formats.money(fam["delta_es_usd"], signed=True) in text
    assert any(round(f["delta_es_usd"]) for f in doc["protection"])  # the tightening buys protection somewhere
    (fr,) = doc["frontier"]
    assert f"{fr['market']}: bracket table" in text and "current" in text and "proposed" in text
    assert "<svg" in section  # the frontier chart, inline (the report stands alone)
    assert not re.search(r"\d\.\d{6,}", text) and "{" not in text
    pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(report.pdf.read())).pages)
    assert "Impact of the proposals awaiting a vote" in pdf and "1-day paths" in pdf
