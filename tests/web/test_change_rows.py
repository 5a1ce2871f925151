"""Issue #16 item 8: the proposal forms edit any number of changes of every governed kind
(market, asset, policy, PM) in one submit, before and after the first save; a finding sits
on its change row and field; one bad row stores nothing and keeps everything typed; the
server-side actions (add a change, load a subject, add a table row) work without a script."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from riskgov.core.models import AuditEvent
from riskgov.governance.models import Proposal, ProposalStatus
from riskgov.governance.services import proposal_withdraw
from riskgov.markets.models import Asset
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion, VersionStatus
from riskgov.portfolio.models import PMParameterVersion
from riskgov.portfolio.services import pm_defaults_seed
from riskgov.presentation import formats
from tests.factories import AssetFactory, MarketFactory, market_version
from tests.governance_fixtures import BRACKETS
from tests.web.test_governance_ui import _snapshot, change_post, changes_post

pytestmark = pytest.mark.django_db

HEAD = {"title": "Many changes", "rationale": "one review", "effective_at": "2099-01-05T10:00"}


@pytest.fixture
def venue(market):
    """BTC-PERP and ETH-PERP active, BTC haircut active, BTC PM parameters (the §14 set)."""
    eth = MarketFactory(symbol="ETH-PERP", base_asset=AssetFactory(symbol="ETH"))
    market_version(eth, status=VersionStatus.ACTIVE)
    pm_defaults_seed(underlying=Asset.objects.get(symbol="BTC"))
    return market


def _market(symbol, imf2="0.022", **over):
    rows = [dict(r) for r in BRACKETS]
    rows[1]["initial_margin_fraction"] = imf2
    return {"kind": "market", "subject": symbol, "liquidation_penalty": "0.002", "brackets": rows, **over}


def _versions():
    return (
        MarketParameterVersion.objects.count(),
        AssetParameterVersion.objects.count(),
        PMParameterVersion.objects.count(),
    )


def _as_analyst(client, people):
    client.force_login(people["analyst"])
    return client


def test_one_submit_creates_every_change_of_every_kind_with_audit_rows(client, people, venue):
    _as_analyst(client, people)
    seen = set(AuditEvent.objects.values_list("pk", flat=True))
    data = changes_post(
        HEAD,
        [
            _market("BTC-PERP", "2.5 %"),  # a percent …
            _market("ETH-PERP", "0.03", liquidation_penalty="0.3 %"),  # … or a fraction
            {"kind": "asset", "subject": "BTC", "haircut": "6 %"},
            {"kind": "policy", "subject": "policy", "quorum": "3"},
            {"kind": "pm", "subject": "BTC", "mm_factor": "0.75", "extended": [], "scenarios": []},
        ],
    )
    r = client.post(reverse("proposal-new"), data)
    assert r.status_code == 302, r.content.decode()[:3000]
    p = Proposal.objects.get(title="Many changes")
    changes = {(c.kind, c.subject): c for c in p.changes.all()}
    assert set(changes) == {
        ("market", "BTC-PERP"),
        ("market", "ETH-PERP"),
        ("asset", "BTC"),
        ("policy", "policy"),
        ("pm", "BTC"),
    }
    btc = changes["market", "BTC-PERP"].version.brackets.order_by("index")
    assert [str(b.initial_margin_fraction.normalize()) for b in btc] == ["0.01", "0.025", "0.05"]
    assert str(changes["market", "ETH-PERP"].version.liquidation_penalty.normalize()) == "0.003"
    assert str(changes["asset", "BTC"].version.haircut.normalize()) == "0.06"
    assert changes["policy", "policy"].version.quorum == 3
    assert str(changes["pm", "BTC"].version.mm_factor.normalize()) == "0.75"
    actions = list(AuditEvent.objects.exclude(pk__in=seen).values_list("action", flat=True))
    assert actions.count("governance.proposal.create") == 1
    assert actions.count("parameters.market_version.create") == 2
    assert "parameters.asset_version.create" in actions and "portfolio.pm_version.create" in actions
    assert "governance.policy.create" in actions


def test_a_bad_row_stores_nothing_sits_on_its_row_and_keeps_everything_typed(client, people, venue):
    _as_analyst(client, people)
    before, versions = _snapshot(), _versions()
    data = changes_post(
        {**HEAD, "title": "Typed title"},
        [
            _market("BTC-PERP", "2.5 %"),
            _market("ETH-PERP", "0.004"),  # bracket 2 IMF below bracket 1's and below its MMF
            {"kind": "asset", "subject": "BTC", "haircut": "1"},  # haircut must be < 1
        ],
    )
    r = client.post(reverse("proposal-new"), data)
    assert r.status_code == 200
    page = r.content.decode()
    assert _snapshot() == before and _versions() == versions  # all or nothing
    # the bracket finding is on change 2 (index 1), bracket row 2 — not on BTC-PERP's row
    assert re.search(
        r'class="error row-error" data-change="1" data-table="brackets" data-row="2">Bracket 2: ETH-PERP', page
    )
    assert 'data-change="0" data-table="brackets"' not in page
    # the haircut finding is on change 3's haircut field
    assert re.search(r'data-change="2" data-field="haircut">BTC haircut: 1 is not &lt; 1 \[rule: haircut_range\]', page)
    # what was typed is shown as typed
    assert 'value="Typed title"' in page and 'value="2.5 %"' in page and 'value="0.004"' in page
    assert 'value="1"' in page and "nothing was saved" in page


def test_an_unreadable_row_and_a_duplicate_are_placed_and_store_nothing(client, people, venue):
    _as_analyst(client, people)
    before = _snapshot()
    data = changes_post(HEAD, [_market("BTC-PERP", "abc")])
    page = client.post(reverse("proposal-new"), data).content.decode()
    assert 'data-change="0" data-table="brackets" data-row="2"' in page and "not a number" in page
    data = changes_post(HEAD, [_market("BTC-PERP"), _market("BTC-PERP", "0.03")])
    page = client.post(reverse("proposal-new"), data).content.decode()
    assert re.search(r'class="error change-error" data-change="1">BTC-PERP is changed twice', page)
    assert _snapshot() == before


def test_edit_removes_edits_and_adds_changes_in_one_save(client, people, venue, make_proposal):
    p = make_proposal(
        changes=[
            {"market": "BTC-PERP", "brackets": BRACKETS},
            {"market": "ETH-PERP", "liquidation_penalty": "0.003"},
            {"asset": "BTC", "haircut": "0.06"},
        ]
    )
    _as_analyst(client, people)
    edit = reverse("proposal-edit", args=[p.pk])
    page = client.get(edit).content.decode()
    # every change of the proposal is a row of the form, with its own values
    for i, (kind, subject) in enumerate([("market", "BTC-PERP"), ("market", "ETH-PERP"), ("asset", "BTC")]):
        assert f'id="change-{i}" data-change="{i}" data-kind="{kind}"' in page
        assert f'name="changes-{i}-subject"' in page and f'<option value="{subject}" selected>' in page
    assert 'name="changes-1-liquidation_penalty" value="0.3 %"' in page  # fractions as exact percent text
    assert 'name="changes-2-haircut" value="6 %"' in page
    audits = AuditEvent.objects.filter(action="governance.proposal.update").count()
    data = changes_post(
        {**HEAD, "title": "Edited"},
        [
            {**_market("BTC-PERP"), "DELETE": "on"},  # removed
            _market("ETH-PERP", liquidation_penalty="0.0035"),  # edited
            {"kind": "asset", "subject": "BTC", "haircut": "0.07"},  # edited
            {"kind": "policy", "subject": "policy", "timelock_hours": "48"},  # added
            {"kind": "pm", "subject": "BTC", "price_range": "18 %", "extended": [], "scenarios": []},  # added
        ],
    )
    r = client.post(edit, data)
    assert r.status_code == 302, r.content.decode()[:3000]
    p.refresh_from_db()
    changes = {(c.kind, c.subject): c for c in p.changes.all()}
    assert set(changes) == {("market", "ETH-PERP"), ("asset", "BTC"), ("policy", "policy"), ("pm", "BTC")}
    assert str(changes["market", "ETH-PERP"].version.liquidation_penalty.normalize()) == "0.0035"
    assert str(changes["asset", "BTC"].version.haircut.normalize()) == "0.07"
    assert changes["policy", "policy"].version.timelock_hours == 48
    assert str(changes["pm", "BTC"].version.price_range.normalize()) == "0.18"
    assert p.title == "Edited" and p.revision == 2
    assert AuditEvent.objects.filter(action="governance.proposal.update").count() == audits + 1
    # the removed and replaced drafts are discarded (audited by their owners' services)
    assert AuditEvent.objects.filter(action="parameters.market_version.status", to_state="discarded").exists()


def test_a_bad_edit_stores_nothing_and_keeps_the_proposal(client, people, venue, make_proposal):
    p = make_proposal(changes=[{"market": "BTC-PERP", "brackets": BRACKETS}, {"asset": "BTC", "haircut": "0.06"}])
    _as_analyst(client, people)
    before, versions = _snapshot(), _versions()
    data = changes_post(
        HEAD,
        [_market("BTC-PERP"), {"kind": "asset", "subject": "BTC", "haircut": "2"}, _market("ETH-PERP", "0.004")],
    )
    page = client.post(reverse("proposal-edit", args=[p.pk]), data).content.decode()
    assert (
        'data-change="1" data-field="haircut"' in page and 'data-change="2" data-table="brackets" data-row="2"' in page
    )
    assert _snapshot() == before and _versions() == versions
    assert {(c.kind, c.subject) for c in p.changes.all()} == {("market", "BTC-PERP"), ("asset", "BTC")}


def test_add_load_and_add_row_actions_keep_what_was_typed_and_store_nothing(client, people, venue):
    _as_analyst(client, people)
    before = _snapshot()
    data = changes_post({**HEAD, "title": "Kept title", "rationale": "Kept because"}, [_market("BTC-PERP", "2.5 %")])
    # add an asset change (server-side, no script)
    page = client.post(reverse("proposal-new"), {**data, "action": "add:asset"}).content.decode()
    assert 'value="Kept title"' in page and "Kept because" in page and 'value="2.5 %"' in page
    assert 'name="changes-1-haircut" value="5 %"' in page  # the active haircut, as percent
    assert 'name="changes-TOTAL_FORMS" value="2"' in page
    # a second market change opens on the first market not changed yet
    page = client.post(reverse("proposal-new"), {**data, "action": "add:market"}).content.decode()
    assert '<option value="ETH-PERP" selected>' in page and 'value="2.5 %"' in page
    # switch row 0 to ETH-PERP: its values are ETH-PERP's, the title stays
    switched = {**data, "changes-0-subject": "ETH-PERP", "action": "load:0"}
    page = client.post(reverse("proposal-new"), switched).content.decode()
    assert 'value="Kept title"' in page and 'value="2.5 %"' not in page
    assert 'name="changes-0-loaded" value="ETH-PERP"' in page
    # without the script a switched subject is loaded on save, never stored with the old values
    page = client.post(reverse("proposal-new"), {**data, "changes-0-subject": "ETH-PERP"}).content.decode()
    assert "active values of market ETH-PERP" in page and 'value="Kept title"' in page
    # add a bracket row
    page = client.post(reverse("proposal-new"), {**data, "action": "addrow:0:brackets"}).content.decode()
    assert 'name="changes-0-brackets-TOTAL_FORMS" value="4"' in page and 'value="2.5 %"' in page
    # nonsense actions change nothing and never answer 500
    for action in ("add:nope", "load:99", "load:x", "addrow:0:nope", "addrow:x:brackets", "zzz"):
        assert client.post(reverse("proposal-new"), {**data, "action": action}).status_code == 200
    assert _snapshot() == before


def test_the_new_form_opens_on_the_requested_subjects(client, people, venue):
    _as_analyst(client, people)
    page = client.get(reverse("proposal-new"), {"market": ["BTC-PERP", "ETH-PERP"], "pm": "BTC"}).content.decode()
    assert 'name="changes-TOTAL_FORMS" value="3"' in page
    assert 'data-kind="pm"' in page and 'name="changes-2-extended-0-move"' in page
    for kind in ("market", "asset", "policy", "pm"):
        assert f'id="add-{kind}"' in page


def test_rearranging_the_form_needs_the_right_to_edit(client, people, venue, make_proposal):
    p = make_proposal()
    data = {**change_post(), "action": "add:asset"}
    for who in ("viewer", "m1", "coauthor"):
        client.force_login(people[who])
        assert client.post(reverse("proposal-edit", args=[p.pk]), data).status_code == 403
    client.force_login(people["viewer"])
    assert client.post(reverse("proposal-new"), data).status_code == 403
    # a closed proposal cannot be edited, by its proposer either
    proposal_withdraw(proposal=p, by=people["analyst"], comment="no")
    client.force_login(people["analyst"])
    assert client.get(reverse("proposal-edit", args=[p.pk])).status_code == 403
    before = _snapshot()
    r = client.post(reverse("proposal-edit", args=[p.pk]), change_post(title="Too late"))
    assert Proposal.objects.get(pk=p.pk).status == ProposalStatus.WITHDRAWN and _snapshot()[0] == before[0]
    assert r.status_code in (200, 403, 409)


class _Inputs(HTMLParser):
    """The values a browser would post from a page's form: inputs (not buttons, checkboxes
    only when checked), the selected option of each select, textareas."""

    def __init__(self):
        super().__init__()
        self.values, self._select, self._textarea = {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.values[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def _form_values(page):
    p = _Inputs()
    p.feed(page)
    return p.values


def test_fraction_fields_are_prefilled_as_exact_percent_and_a_round_trip_stores_the_active_values(
    client, people, venue
):
    """Issue #16 item 10: beside "active: 0.200 %" the input reads "0.2 %", not "0.002"; saved
    unchanged, the change holds exactly the active ``Decimal``s (nothing rounded by the text)."""
    _as_analyst(client, people)
    btc = MarketParameterVersion.objects.get(market__symbol="BTC-PERP", status=VersionStatus.ACTIVE)
    haircut = AssetParameterVersion.objects.get(asset__symbol="BTC", status=VersionStatus.ACTIVE).haircut
    page = client.get(reverse("proposal-new"), {"market": "BTC-PERP", "asset": "BTC"}).content.decode()
    values = _form_values(page)
    assert values["changes-0-liquidation_penalty"] == "0.2 %"
    assert values["changes-1-haircut"] == "5 %"
    brackets = list(btc.brackets.order_by("index"))
    for j, b in enumerate(brackets):
        assert values[f"changes-0-brackets-{j}-initial_margin_fraction"] == formats.fraction_input(
            b.initial_margin_fraction
        )
        assert values[f"changes-0-brackets-{j}-maintenance_margin_fraction"].endswith(" %")
    assert values["changes-0-brackets-1-initial_margin_fraction"] == "2 %"
    assert not any(re.fullmatch(r"0\.\d+", v) for k, v in values.items() if k.endswith("fraction"))
    values.update(HEAD)  # the proposal's own fields; every change row as loaded
    r = client.post(reverse("proposal-new"), values)
    assert r.status_code == 302, r.content.decode()[:3000]
    changes = {(c.kind, c.subject): c for c in Proposal.objects.get(title=HEAD["title"]).changes.all()}
    saved = changes["market", "BTC-PERP"].version
    assert saved.liquidation_penalty == btc.liquidation_penalty
    got = [(b.initial_margin_fraction, b.maintenance_margin_fraction) for b in saved.brackets.order_by("index")]
    assert got == [(b.initial_margin_fraction, b.maintenance_margin_fraction) for b in brackets]
    assert changes["asset", "BTC"].version.haircut == haircut


def test_fraction_input_text_is_exact_and_reads_back_to_the_same_decimal():
    from decimal import Decimal

    cases = {"0.0100000000": "1 %", "0.004": "0.4 %", "0.0035": "0.35 %", "0.0133333334": "1.33333334 %", "0": "0 %"}
    for stored, text in cases.items():
        assert formats.fraction_input(Decimal(stored)) == text
        assert formats.parse_fraction(text) == Decimal(stored)
    assert formats.fraction_input(0.004) == "0.4 %" and formats.fraction_input(None) == ""
