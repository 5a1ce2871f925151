"""Governance selectors: the committee (active members), authors, quorum and timelock by kind,
the voting inbox, changes loaded in bulk, field deltas with their last change time, the
fast-track findings, stale bases, the lint and what a user may do with a proposal."""

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from riskgov.governance import selectors
from riskgov.governance import services as gs
from riskgov.governance.models import Policy, Proposal, ProposalKind, ProposalStatus
from riskgov.parameters.models import MarketParameterVersion, VersionStatus
from riskgov.parameters.selectors import market_version_diff
from riskgov.parameters.services import market_version_set_status
from tests.factories import AssetFactory, MarketFactory, market_version
from tests.governance_fixtures import BRACKETS, later, submit_for_votes

pytestmark = pytest.mark.django_db

D = Decimal
STRICTER = [
    {"notional_floor": "0", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.008"},
    {"notional_floor": "300000", "initial_margin_fraction": "0.03", "maintenance_margin_fraction": "0.01"},
    {"notional_floor": "1000000", "initial_margin_fraction": "0.05", "maintenance_margin_fraction": "0.015"},
]


def active(symbol="BTC-PERP"):
    return MarketParameterVersion.objects.get(market__symbol=symbol, status=VersionStatus.ACTIVE)


def activate(version, *, at):
    """Supersede the market's active version and activate ``version`` at ``at``."""
    market_version_set_status(version=active(version.market.symbol), status=VersionStatus.SUPERSEDED, at=at)
    market_version_set_status(version=version, status=VersionStatus.APPROVED, at=at)
    return market_version_set_status(version=version, status=VersionStatus.ACTIVE, at=at)


def submit(p, people):
    return submit_for_votes(p, people["analyst"])


# --- committee, authors, quorum, timelock ---------------------------------------------------
def test_committee_members_are_the_active_users_of_the_committee_group(people):
    assert set(selectors.committee_members()) == {people["m1"], people["m2"], people["m3"], people["both"]}
    people["m3"].is_active = False
    people["m3"].save()
    members = list(selectors.committee_members())
    assert set(members) == {people["m1"], people["m2"], people["both"]} and len(members) == 3


def test_proposal_authors_are_the_proposer_and_co_authors(make_proposal, people):
    p = make_proposal(co_authors=[people["coauthor"], people["both"]])
    assert selectors.proposal_authors(p) == {people["analyst"].pk, people["coauthor"].pk, people["both"].pk}
    alone = make_proposal(title="alone", changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}])
    assert selectors.proposal_authors(alone) == {people["analyst"].pk}


@pytest.mark.parametrize(
    "kind,quorum,hours",
    [(ProposalKind.NORMAL, 3, 36), (ProposalKind.FAST_TRACK, 1, 4), (ProposalKind.EMERGENCY, 3, 36)],
)
def test_quorum_and_timelock_by_kind(kind, quorum, hours):
    policy = Policy(quorum=3, fast_track_quorum=1, timelock_hours=36, fast_track_timelock_hours=4)
    assert selectors.proposal_quorum(Proposal(kind=kind), policy) == quorum
    assert selectors.proposal_timelock(kind, policy) == timedelta(hours=hours)


# --- the voting inbox -----------------------------------------------------------------------
def test_proposals_awaiting_vote_of_a_member(make_proposal, people):
    m1, m2 = people["m1"], people["m2"]
    draft = make_proposal(title="draft")
    first = submit(make_proposal(title="first"), people)
    coauthored = submit(make_proposal(title="co", co_authors=[people["both"]]), people)
    voted = submit(make_proposal(title="voted"), people)
    gs.proposal_vote(proposal=voted, by=m1, decision="approve", comment="ok")
    emergency = gs.emergency_change(by=m2, rationale="hack", changes=[{"market": "BTC-PERP", "brackets": STRICTER}])
    own = gs.emergency_change(by=m1, rationale="hack", changes=[{"asset": "BTC", "haircut": "0.06"}])
    late = gs.emergency_change(by=m2, rationale="hack", changes=[{"asset": "BTC", "haircut": "0.07"}])
    Proposal.objects.filter(pk=late.pk).update(ratify_by=timezone.now() - timedelta(minutes=1))
    assert draft.status == "draft"
    inbox = list(selectors.proposals_awaiting_vote(member=m1))
    assert inbox == [first, coauthored, emergency]  # oldest first; not its own, not voted, not late
    assert list(selectors.proposals_awaiting_vote(member=m2)) == [first, coauthored, voted, own]
    assert list(selectors.proposals_awaiting_vote(member=people["both"])) == [first, voted, emergency, own]


def test_proposals_awaiting_vote_is_empty_without_submissions(make_proposal, people):
    make_proposal()
    assert list(selectors.proposals_awaiting_vote(member=people["m1"])) == []


# --- changes, terms, deltas -----------------------------------------------------------------
@pytest.fixture
def eth(market):
    m = MarketFactory(symbol="ETH-PERP", base_asset=AssetFactory(symbol="ETH"))
    return market_version(m, status=VersionStatus.ACTIVE)


def test_proposal_changes_load_versions_and_bases_in_bulk(make_proposal, eth, django_assert_max_num_queries):
    p = make_proposal(
        changes=[
            {"market": "BTC-PERP", "brackets": BRACKETS},
            {"market": "ETH-PERP", "liquidation_penalty": "0.003"},
            {"asset": "BTC", "haircut": "0.06"},
        ]
    )
    p = Proposal.objects.get(pk=p.pk)
    # the changes, the market versions, their brackets, the asset versions: never one per change
    with django_assert_max_num_queries(4):
        changes = selectors.proposal_changes(p)
    with django_assert_max_num_queries(0):
        seen = [
            (c.subject, c.version.number, c.base_version.number, c.version.status, c.base_version.status)
            for c in changes
        ]
        brackets_seen = [len(c.version.brackets.all()) for c in changes if c.kind == "market"]
    assert seen == [
        ("BTC-PERP", 2, 1, "draft", "active"),
        ("ETH-PERP", 2, 1, "draft", "active"),
        ("BTC", 2, 1, "draft", "active"),
    ]
    assert brackets_seen == [3, 3]
    assert changes[0].version.brackets.all()[1].initial_margin_fraction == D("0.022")


def test_load_change_versions_of_no_changes_is_a_no_op(django_assert_num_queries):
    with django_assert_num_queries(0):
        selectors.load_change_versions([])


def test_market_terms_are_the_exact_values_in_bracket_order(market):
    t = selectors.market_terms(active())
    assert t.floors == (D(0), D(300000), D(1000000))
    assert t.imf == (D("0.01"), D("0.02"), D("0.05")) and t.mmf == (D("0.004"), D("0.005"), D("0.01"))
    assert (t.liquidation_penalty, t.depth_usd_per_1pct) == (D("0.002"), D(50000000))
    assert (t.oi_cap_lower_usd, t.oi_cap_upper_usd, t.max_position_notional_usd) == (D(0), D(0), None)


def test_field_deltas_date_each_field_from_the_start_of_its_current_value(market, make_proposal):
    t0 = active().activated_at
    t1, t2 = t0 + timedelta(days=1), t0 + timedelta(days=2)
    activate(market_version(market, liquidation_penalty=D("0.003")), at=t1)  # v2: penalty changes
    v3_rows = ((0, "0.01", "0.004"), (300000, "0.025", "0.005"), (1000000, "0.05", "0.01"))
    activate(market_version(market, rows=v3_rows, liquidation_penalty=D("0.003")), at=t2)  # v3: bracket 2 IMF
    p = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.0035", "brackets": BRACKETS}])
    (change,) = selectors.proposal_changes(p)
    deltas = {d.path: d for d in selectors.change_field_deltas(change)}
    assert all(d.subject == "BTC-PERP" for d in deltas.values())
    assert list(deltas) == sorted(deltas)
    pen = deltas["liquidation_penalty"]
    assert (pen.before, pen.after, pen.last_changed_at) == (D("0.003"), D("0.0035"), t1)  # v2 and v3 equal: v2
    imf2 = deltas["brackets[2].initial_margin_fraction"]
    assert (imf2.before, imf2.after, imf2.last_changed_at) == (D("0.025"), D("0.022"), t2)
    assert deltas["brackets[1].initial_margin_fraction"].last_changed_at == t0  # never changed: the first version
    assert deltas["depth_usd_per_1pct"].before == deltas["depth_usd_per_1pct"].after == D(50000000)
    mx = deltas["max_position_notional_usd"]
    assert (mx.before, mx.after) == (None, None)
    assert "brackets[2].maintenance_amount" not in deltas  # derived, not governed


def test_change_diff_is_the_kinds_diff(make_proposal):
    p = make_proposal(changes=[{"market": "BTC-PERP", "brackets": BRACKETS}, {"asset": "BTC", "haircut": "0.06"}])
    market_change, asset_change = selectors.proposal_changes(p)
    diff = selectors.change_diff(market_change)
    assert diff == market_version_diff(market_change.base_version, market_change.version)
    assert [(c.path, c.before, c.after) for c in diff] == [("brackets[2].initial_margin_fraction", "0.02", "0.022")]
    (h,) = selectors.change_diff(asset_change)
    assert (h.path, h.before, h.after, h.relative) == ("haircut", "0.05", "0.06", D("0.2"))


# --- fast track, stale bases ----------------------------------------------------------------
def test_fast_track_findings_within_and_outside_the_bounds(make_proposal, people):
    policy = gs.policy_current()
    p = make_proposal()  # bracket 2 IMF +10 %, last changed at the bootstrap
    assert selectors.proposal_fast_track_findings(p, policy=policy, now=later(days=8)) == []
    recent = selectors.proposal_fast_track_findings(p, policy=policy, now=later(days=3))
    assert [(f.rule, f.where) for f in recent] == [
        ("ft_changed_recently", "BTC-PERP brackets[2].initial_margin_fraction")
    ]
    big = make_proposal(title="big", changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}])  # +50 %
    assert [f.rule for f in selectors.proposal_fast_track_findings(big, policy=policy, now=later(days=8))] == [
        "ft_relative_change"
    ]
    rows = [
        *BRACKETS,
        {"notional_floor": "5000000", "initial_margin_fraction": "0.1", "maintenance_margin_fraction": "0.02"},
    ]
    added = make_proposal(title="added", changes=[{"market": "BTC-PERP", "brackets": rows}])
    rules = [f.rule for f in selectors.proposal_fast_track_findings(added, policy=policy, now=later(days=8))]
    assert rules == ["ft_not_relative"] * 3  # the new bracket's three fields have no relative change
    # a wider bound (an unsaved copy: widening the stored policy needs a policy proposal, #13)
    wide = copy.copy(policy)
    wide.fast_track_max_relative_change = Decimal("0.6")
    assert selectors.proposal_fast_track_findings(big, policy=wide, now=later(days=8)) == []


def test_a_policy_change_is_never_fast_tracked(make_proposal):
    p = make_proposal(changes=[{"policy": "policy", "expiry_days": 13}])  # −7 %, stricter
    findings = selectors.proposal_fast_track_findings(p, policy=gs.policy_current(), now=later(days=30))
    assert findings[0].rule == "ft_kind_excluded"
    assert findings[0].message == "policy: a policy change is never fast-tracked"


def test_change_base_errors_when_the_base_is_no_longer_active(market, make_proposal):
    p = make_proposal()
    (change,) = selectors.proposal_changes(p)
    assert selectors.change_base_errors(change) == []
    newer = activate(market_version(market, liquidation_penalty=D("0.003")), at=later(hours=1))
    (err,) = selectors.change_base_errors(change)
    assert (err.rule, err.subject, err.where) == ("stale_base", "BTC-PERP", "BTC-PERP")
    assert f"written against v1, but the active version is now id {newer.pk}" in err.message


def test_change_base_errors_when_a_subject_without_an_active_version_gets_one(make_proposal, people):
    sol = MarketFactory(symbol="SOL-PERP", base_asset=AssetFactory(symbol="SOL"))
    spec = {
        "market": "SOL-PERP",
        "liquidation_penalty": "0.002",
        "depth_usd_per_1pct": "1000000",
        "oi_cap_lower_usd": "0",
        "oi_cap_upper_usd": "0",
        "max_position_notional_usd": None,
        "brackets": BRACKETS,
    }
    p = make_proposal(changes=[spec])
    (change,) = selectors.proposal_changes(p)
    assert change.base_version is None and selectors.change_base_errors(change) == []
    market_version(sol, status=VersionStatus.ACTIVE)
    (err,) = selectors.change_base_errors(change)
    assert err.rule == "stale_base" and "written against no active version" in err.message


# --- lint -----------------------------------------------------------------------------------
def test_lint_of_a_clean_proposal_is_empty(make_proposal):
    assert selectors.proposal_lint(make_proposal(), policy=gs.policy_current()) == []


def test_lint_no_changes_and_no_change(make_proposal, people):
    policy = gs.policy_current()
    empty = make_proposal(title="empty")
    empty.changes.all().delete()  # proposal_create refuses none: the edge of a proposal emptied since
    assert [e.rule for e in selectors.proposal_lint(empty, policy=policy)] == ["no_changes"]
    same = make_proposal(title="same", changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.002"}])
    (err,) = selectors.proposal_lint(same, policy=policy)
    assert (err.rule, err.message) == ("no_change", "BTC-PERP: same values as the active version")


def test_lint_uses_the_fast_track_timelock_only_within_the_bounds(make_proposal):
    policy = gs.policy_current()  # timelock 24 h, fast track 2 h
    now = later(days=10)
    fast = make_proposal(effective_at=now + timedelta(hours=3))
    assert selectors.proposal_lint(fast, policy=policy, now=now) == []
    normal = make_proposal(
        title="normal",
        changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}],
        effective_at=now + timedelta(hours=3),
    )
    (err,) = selectors.proposal_lint(normal, policy=policy, now=now)
    assert (err.rule, err.field) == ("effective_at_before_timelock", "effective_at")
    assert "normal timelock 24 h" in err.message
    (early,) = selectors.proposal_lint(fast, policy=policy, now=now + timedelta(hours=2))  # 1 h left
    assert "fast-track timelock 2 h" in early.message


def test_lint_quorum_counts_eligible_members_without_the_authors(make_proposal, people):
    policy = gs.policy_update(by=people["admin"], quorum=3)
    p = make_proposal(co_authors=[people["both"]], effective_at=later(days=9))  # m1, m2, m3 may vote
    assert selectors.proposal_lint(p, policy=policy) == []
    people["m3"].is_active = False
    people["m3"].save()
    (err,) = selectors.proposal_lint(p, policy=policy)
    assert err.rule == "quorum_unreachable"
    assert err.message == "only 2 committee member(s) may vote on this proposal (authors excluded), quorum is 3"
    # within the fast-track bounds the fast-track quorum (1) is what must be reachable
    assert selectors.proposal_lint(p, policy=policy, now=later(days=8)) == []


# --- impact, editability, votes, actions ----------------------------------------------------
def test_proposals_with_impact_newest_update_first(make_proposal):
    a, b, c = (make_proposal(title=t) for t in "abc")
    now = timezone.now()
    Proposal.objects.filter(pk=a.pk).update(impact={"n": 1}, updated_at=now)
    Proposal.objects.filter(pk=c.pk).update(impact={"n": 3}, updated_at=now - timedelta(hours=1))
    assert list(selectors.proposals_with_impact()) == [a, c]
    Proposal.objects.filter(pk=b.pk).update(impact={}, updated_at=now)  # an empty result is still frozen
    assert list(selectors.proposals_with_impact()) == [b, a, c]  # equal times: newest id first


@pytest.mark.parametrize("status", list(ProposalStatus))
@pytest.mark.parametrize("kind", list(ProposalKind))
def test_proposal_editable(status, kind):
    p = Proposal(status=status, kind=kind)
    expected = status in ("draft", "submitted", "approved", "scheduled") and kind != ProposalKind.EMERGENCY
    assert selectors.proposal_editable(p) is expected


def test_proposal_open_to_votes():
    now = timezone.now()

    def open_(status, kind=ProposalKind.NORMAL, ratify_by=None, at=now):
        return selectors.proposal_open_to_votes(Proposal(status=status, kind=kind, ratify_by=ratify_by), at)

    assert open_("submitted") and open_("submitted", ProposalKind.FAST_TRACK)
    assert not any(open_(s) for s in ProposalStatus if s != "submitted")
    em = ProposalKind.EMERGENCY
    assert open_("active", em, ratify_by=now) and open_("active", em, ratify_by=now + timedelta(hours=1))
    assert not open_("active", em, ratify_by=now - timedelta(seconds=1))
    assert not open_("active", em, ratify_by=None)
    assert not open_("ratified", em, ratify_by=now + timedelta(hours=1))
    assert not open_("submitted", em, ratify_by=now + timedelta(hours=1))


def test_allowed_actions_of_authors_committee_and_others(make_proposal, people):
    p = make_proposal(co_authors=[people["coauthor"], people["both"]])

    def acts(user):
        a = selectors.proposal_allowed_actions(p, people[user])
        return (a.is_author, a.edit, a.submit, a.withdraw, a.vote)

    assert acts("analyst") == (True, True, True, True, False)
    assert acts("coauthor") == (True, True, True, False, False)  # only the proposer withdraws
    assert acts("both") == (True, True, True, False, False)  # an author never votes
    assert acts("m1") == (False, False, False, False, False)  # a draft is not open to votes
    assert acts("viewer") == acts("admin") == (False, False, False, False, False)
    p = submit(p, people)
    assert acts("analyst") == (True, True, False, True, False)  # still editable, no longer submittable
    assert acts("m1") == (False, False, False, False, True)
    assert acts("viewer") == (False, False, False, False, False)


def test_allowed_actions_on_an_emergency_change(people, market):
    p = gs.emergency_change(by=people["m1"], rationale="hack", changes=[{"market": "BTC-PERP", "brackets": STRICTER}])
    own = selectors.proposal_allowed_actions(p, people["m1"])
    assert (own.is_author, own.edit, own.submit, own.withdraw, own.vote) == (True, False, False, False, False)
    other = selectors.proposal_allowed_actions(p, people["m2"])
    assert other.vote and not other.edit
    late = selectors.proposal_allowed_actions(p, people["m2"], now=p.ratify_by + timedelta(seconds=1))
    assert not late.vote
