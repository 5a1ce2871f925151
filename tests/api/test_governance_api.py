"""Governance API: the full workflow over HTTP, and the permission matrix (role × action).

Every forbidden cell must be refused (403, body ``{"message", "extra"}``) and change nothing.
"""

import pytest

from riskgov.core.models import AuditEvent
from riskgov.governance.models import Policy, Proposal, Vote
from riskgov.governance.services import policy_update, proposal_record_impact
from riskgov.parameters.models import MarketParameterVersion, VersionStatus
from tests.governance_fixtures import BRACKETS, later, submit_for_votes

pytestmark = pytest.mark.django_db
ROLES = ["viewer", "analyst", "m1", "admin", "nobody"]


@pytest.fixture
def nobody(db):
    from tests.factories import UserFactory

    return UserFactory(username="nobody")


def as_user(api, user):
    api.force_authenticate(user)
    return api


def body(effective_days=3):
    return {
        "title": "Raise BTC IMF",
        "rationale": "volatility is up",
        "effective_at": later(days=effective_days).isoformat(),
        "changes": [{"market": "BTC-PERP", "brackets": BRACKETS}],
    }


def state():
    return (
        Proposal.objects.count(),
        Vote.objects.count(),
        Policy.objects.count(),
        MarketParameterVersion.objects.count(),
    )


def test_workflow_over_http_create_submit_vote_schedule(api, people, market):
    policy_update(by=people["admin"], quorum=2)
    r = as_user(api, people["analyst"]).post("/api/v1/proposals/", body(), format="json")
    assert r.status_code == 201, r.json()
    pid = r.json()["id"]
    diff = {d["field"]: d for d in r.json()["changes"][0]["diff"]}
    assert diff["brackets[2].initial_margin_fraction"]["before"] == "0.02"
    assert diff["brackets[2].initial_margin_fraction"]["after"] == "0.022"
    assert as_user(api, people["analyst"]).get(f"/api/v1/proposals/{pid}/lint/").json() == {"errors": []}
    assert as_user(api, people["analyst"]).post(f"/api/v1/proposals/{pid}/submit/").json()["status"] == "submitted"
    inbox = as_user(api, people["m1"]).get("/api/v1/proposals/", {"awaiting_my_vote": "true"}).json()["results"]
    assert [p["id"] for p in inbox] == [pid]
    r = as_user(api, people["m1"]).post(f"/api/v1/proposals/{pid}/approve/", {"comment": "early"}, format="json")
    assert r.status_code == 409 and "votes open when the impact analysis" in r.json()["message"]
    proposal_record_impact(proposal=Proposal.objects.get(pk=pid), impact={"note": "test"}, revision=1)
    r = as_user(api, people["m1"]).post(f"/api/v1/proposals/{pid}/approve/", {"comment": "ok"}, format="json")
    assert r.json()["status"] == "submitted"
    r = as_user(api, people["m2"]).post(f"/api/v1/proposals/{pid}/approve/", {"comment": "fine"}, format="json")
    assert r.json()["status"] == "scheduled" and len(r.json()["votes"]) == 2
    assert (
        as_user(api, people["m3"])
        .post(f"/api/v1/proposals/{pid}/approve/", {"comment": "late"}, format="json")
        .status_code
        == 409
    )
    events = as_user(api, people["viewer"]).get("/api/v1/audit-events/", {"object_type": "governance.proposal"}).json()
    assert events["count"] >= 5


def test_vote_needs_a_comment(api, people, make_proposal):
    p = make_proposal()
    submit_for_votes(p, people["analyst"])
    r = as_user(api, people["m1"]).post(f"/api/v1/proposals/{p.pk}/approve/", {}, format="json")
    assert r.status_code == 400 and set(r.json()) == {"message", "extra"}


@pytest.mark.parametrize("role", ROLES)
def test_matrix_create(api, people, market, nobody, role):
    user = nobody if role == "nobody" else people[role]
    before = state()
    r = as_user(api, user).post("/api/v1/proposals/", body(), format="json")
    if role == "analyst":
        assert r.status_code == 201
    else:
        assert r.status_code == 403 and state() == before


@pytest.mark.parametrize("role", ROLES + ["analyst_other", "proposer_as_member"])
@pytest.mark.parametrize("act", ["submit", "approve", "reject", "withdraw", "edit"])
def test_matrix_proposal_actions(api, people, make_proposal, nobody, role, act):
    """Authors (the proposer) submit/edit/withdraw; committee members who are not authors vote."""
    proposer = people["both"] if role == "proposer_as_member" else people["analyst"]
    p = make_proposal(by=proposer)
    if act in ("approve", "reject"):
        submit_for_votes(p, proposer)
    user = {"nobody": nobody, "analyst_other": people["coauthor"], "proposer_as_member": proposer}.get(role)
    user = user or people[role]
    is_author = user.pk == proposer.pk
    allowed = is_author if act in ("submit", "withdraw", "edit") else role == "m1"
    before, audit_before = state(), AuditEvent.objects.count()
    client = as_user(api, user)
    url = f"/api/v1/proposals/{p.pk}/"
    if act == "edit":
        r = client.patch(url, {"title": "new title"}, format="json")
    elif act in ("approve", "reject"):
        r = client.post(url + f"{act}/", {"comment": "why"}, format="json")
    else:
        r = client.post(url + f"{act}/", {}, format="json")
    if allowed:
        assert r.status_code == 200, r.json()
    else:
        assert r.status_code == 403, (role, act, r.status_code, r.json())
        assert set(r.json()) == {"message", "extra"}
        assert state() == before and AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize("role", ROLES)
def test_matrix_emergency_policy_and_reads(api, people, market, nobody, role):
    user = nobody if role == "nobody" else people[role]
    client = as_user(api, user)
    before = state()
    stricter = [dict(b, initial_margin_fraction=str(float(b["initial_margin_fraction"]) + 0.005)) for b in BRACKETS]
    stricter[1]["initial_margin_fraction"] = "0.025"
    r = client.post(
        "/api/v1/proposals/emergency/",
        {"rationale": "flash crash", "changes": [{"market": "BTC-PERP", "brackets": stricter}]},
        format="json",
    )
    assert r.status_code == (201 if role == "m1" else 403), r.json()
    if role != "m1":
        assert state() == before
    before = state()
    r = client.post("/api/v1/policy/update/", {"quorum": 3, "comment": "bigger committee"}, format="json")
    assert r.status_code == (201 if role == "admin" else 403), r.json()
    if role != "admin":
        assert state() == before
    for url in (
        "/api/v1/proposals/",
        "/api/v1/policy/current/",
        "/api/v1/audit-events/",
        "/api/v1/audit-events/export/",
    ):
        assert client.get(url).status_code == (403 if role == "nobody" else 200), url


def test_audit_export_is_filtered_csv(api, people, make_proposal):
    make_proposal()
    r = as_user(api, people["viewer"]).get("/api/v1/audit-events/export/", {"object_type": "governance.proposal"})
    text = b"".join(r.streaming_content).decode()
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,created_at,actor_name,action")
    assert len(lines) == 1 + AuditEvent.objects.filter(object_type="governance.proposal").count()
    assert all("governance.proposal" in line for line in lines[1:])


def test_emergency_is_active_at_once(api, people, market):
    stricter = [dict(b) for b in BRACKETS]
    stricter[0]["maintenance_margin_fraction"] = "0.0045"
    r = as_user(api, people["m1"]).post(
        "/api/v1/proposals/emergency/",
        {"rationale": "oracle risk", "changes": [{"market": "BTC-PERP", "brackets": stricter}]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["status"] == "active" and r.json()["ratify_by"]
    active = MarketParameterVersion.objects.get(market__symbol="BTC-PERP", status=VersionStatus.ACTIVE)
    assert str(active.brackets.get(index=1).maintenance_margin_fraction.normalize()) == "0.0045"


def test_votes_endpoint_and_deleting_a_draft_withdraws_it(api, people, make_proposal):
    p = make_proposal()
    other = make_proposal(title="second")
    submit_for_votes(p, people["analyst"])
    as_user(api, people["m1"]).post(f"/api/v1/proposals/{p.pk}/reject/", {"comment": "too early"}, format="json")
    votes = as_user(api, people["viewer"]).get("/api/v1/votes/", {"proposal": p.pk}).json()["results"]
    assert [(v["voter_name"], v["decision"], v["comment"]) for v in votes] == [("m1", "reject", "too early")]
    # a submitted proposal is not deleted; a draft is withdrawn (kept, audited), and only by its author
    assert as_user(api, people["analyst"]).delete(f"/api/v1/proposals/{p.pk}/").status_code == 409
    assert as_user(api, people["coauthor"]).delete(f"/api/v1/proposals/{other.pk}/").status_code == 403
    assert as_user(api, people["analyst"]).delete(f"/api/v1/proposals/{other.pk}/").status_code == 204
    other.refresh_from_db()
    assert other.status == "withdrawn"
    assert AuditEvent.objects.filter(object_id=str(other.pk), to_state="withdrawn").count() == 1


def test_invalid_change_is_a_400_with_the_validators_structure(api, people, market):
    bad = [dict(b) for b in BRACKETS]
    bad[1]["maintenance_margin_fraction"] = "0.03"  # above bracket 2's IMF
    data = {**body(), "changes": [{"market": "BTC-PERP", "brackets": bad}]}
    before = state()
    r = as_user(api, people["analyst"]).post("/api/v1/proposals/", data, format="json")
    assert r.status_code == 400 and set(r.json()) == {"message", "extra"}
    errors = r.json()["extra"]["errors"]
    e = errors[0]
    assert [(x["bracket"], x["rule"]) for x in errors] == [(2, "mmf_below_imf"), (3, "mmf_non_decreasing")]
    assert {k: e[k] for k in ("subject", "bracket", "field", "rule", "where")} == {
        "subject": "BTC-PERP",
        "bracket": 2,
        "field": "maintenance_margin_fraction",
        "rule": "mmf_below_imf",
        "where": "BTC-PERP bracket 2",
    }
    assert e["message"].startswith("BTC-PERP bracket 2 maintenance_margin_fraction: 0.03 is not <")
    assert state() == before


def test_a_horizon_only_change_over_http(api, people, market):
    """The API change spec takes the liquidation horizon (RISK_MODEL §12); a bad one is a 400
    naming its rule; the version serializer shows it."""
    data = {**body(), "changes": [{"market": "BTC-PERP", "liquidation_horizon_minutes": "15"}]}
    r = as_user(api, people["analyst"]).post("/api/v1/proposals/", data, format="json")
    assert r.status_code == 201, r.content
    draft = Proposal.objects.get(pk=r.json()["id"]).changes.get().market_version
    assert str(draft.liquidation_horizon_minutes.normalize()) == "15"
    bad = {**body(), "changes": [{"market": "BTC-PERP", "liquidation_horizon_minutes": "2000"}]}
    r = as_user(api, people["analyst"]).post("/api/v1/proposals/", bad, format="json")
    assert r.status_code == 400 and r.json()["extra"]["errors"][0]["rule"] == "horizon_at_most_one_day"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "change", [{"quorum": 1, "fast_track_quorum": 1}, {"timelock_hours": 0, "fast_track_timelock_hours": 0}]
)
def test_matrix_nobody_weakens_the_policy_directly(api, people, market, nobody, role, change):
    """Issue 13.2 in the matrix: weakening is refused for every role, the admin included (400
    policy_weaker for the admin, 403 for the others); nothing changes."""
    user = nobody if role == "nobody" else people[role]
    before, audit_before = state(), AuditEvent.objects.count()
    r = as_user(api, user).post("/api/v1/policy/update/", {**change, "comment": "alone"}, format="json")
    if role == "admin":
        assert r.status_code == 400, r.json()
        assert {e["rule"] for e in r.json()["extra"]["errors"]} == {"policy_weaker"}
    else:
        assert r.status_code == 403, r.json()
    assert set(r.json()) == {"message", "extra"}
    assert state() == before and AuditEvent.objects.count() in (audit_before, audit_before + 1)  # + default policy
    from riskgov.governance.services import policy_current

    assert policy_current().quorum == 2


@pytest.mark.parametrize("role", ["viewer", "analyst", "m1", "admin"])
def test_matrix_policy_proposal_roles(api, people, market, role):
    """A policy change goes through the normal proposal roles: analysts propose, committee votes."""
    spec = {"policy": "policy", "quorum": 1, "fast_track_quorum": 1}
    body = {"title": "smaller quorum", "rationale": "r", "effective_at": later(days=3).isoformat(), "changes": [spec]}
    r = as_user(api, people[role]).post("/api/v1/proposals/", body, format="json")
    assert r.status_code == (201 if role == "analyst" else 403), r.json()
