"""Change-form errors are placed from their structure ({subject, bracket, field, where}),
never by parsing the message text (riskgov.web.change_forms.place_errors)."""

import re

import pytest
from django.urls import reverse

from riskgov.web import change_forms as cf
from riskgov.web import forms as f
from tests.web.test_governance_ui import _snapshot, change_post

pytestmark = pytest.mark.django_db


def test_structure_decides_the_place(market):
    data = change_post(asset="BTC", haircut="0.06", **{"brackets-TOTAL_FORMS": "5"})
    head, formset = f.ProposalForm(data), cf.ChangeFormSet(data, prefix=cf.PREFIX)
    assert head.is_valid() and formset.is_valid(), (head.errors, formset.errors)
    specs, places = cf.change_specs(formset)
    assert [s.get("market") or s.get("asset") for s in specs] == ["BTC-PERP", "BTC"]
    errors = [
        {"subject": "BTC-PERP", "bracket": 2, "field": "initial_margin_fraction", "rule": "r1", "message": "m1"},
        {"subject": "BTC", "bracket": None, "field": "haircut", "rule": "r2", "message": "m2"},
        {"subject": "BTC-PERP", "bracket": None, "field": "liquidation_penalty", "rule": "r3", "message": "m3"},
        {"subject": "ETH-PERP", "bracket": 1, "field": "liquidation_penalty", "rule": "r4", "message": "m4"},
        {"subject": "", "bracket": None, "field": "effective_at", "rule": "r5", "message": "m5"},
        # a message that merely *looks* like a place is not parsed
        {"subject": "", "bracket": None, "field": "", "rule": "r6", "message": "BTC-PERP bracket 1: looks placed"},
        {"where": "changes[1]", "subject": "", "field": "", "rule": "r7", "message": "m7"},
    ]
    general = cf.place_errors(errors, head=head, formset=formset, places=places)
    market_row, asset_row = formset.forms
    assert market_row.table_row_errors == {("brackets", 1): ["m1 [rule: r1]"]}
    assert asset_row.errors["haircut"] == ["m2 [rule: r2]"]
    assert market_row.errors["liquidation_penalty"] == ["m3 [rule: r3]"]
    assert head.errors["effective_at"] == ["m5 [rule: r5]"]
    assert asset_row.change_errors == ["m7 [rule: r7]"]
    assert general == ["m4 [rule: r4]", "BTC-PERP bracket 1: looks placed [rule: r6]"]


def test_haircut_error_from_the_validator_sits_on_the_haircut_field(client, people, market):
    client.force_login(people["analyst"])
    before = _snapshot()
    page = client.post(reverse("proposal-new"), change_post(asset="BTC", haircut="1")).content.decode()
    assert re.search(r'data-change="1" data-field="haircut">BTC haircut: 1 is not &lt; 1 \[rule: haircut_range\]', page)
    assert _snapshot() == before
