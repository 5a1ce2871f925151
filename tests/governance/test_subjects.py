"""The governed-subject registry (riskgov.core.subjects), the kind-generic ProposalChange and its
database guards, and migration 0002 keeping existing changes."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from riskgov.core import subjects
from riskgov.governance import services as gs
from riskgov.governance.models import GovernedKind, ProposalChange
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion, VersionStatus
from riskgov.parameters.subjects import ASSET, MARKET

pytestmark = pytest.mark.django_db


# --- registry -----------------------------------------------------------------------------
def test_market_and_asset_are_registered_from_their_app():
    assert subjects.subject_kind("market") is MARKET and subjects.subject_kind("asset") is ASSET
    assert [k.name for k in subjects.registered_kinds()][:2] == ["market", "asset"]
    assert isinstance(MARKET, subjects.SubjectKind) and isinstance(ASSET, subjects.SubjectKind)
    assert MARKET.version_model is MarketParameterVersion and ASSET.version_model is AssetParameterVersion


def test_registry_lookup_and_conflicts():
    with pytest.raises(subjects.UnknownSubjectKind, match="unknown subject kind 'nope'"):
        subjects.subject_kind("nope")
    assert subjects.register(MARKET) is MARKET  # idempotent
    clash = type("Clash", (), {"name": "market"})()
    with pytest.raises(ValueError, match="already registered"):
        subjects.register(clash)
    assert subjects.kind_for_spec({"market": "BTC-PERP"}) is MARKET
    assert subjects.kind_for_spec({"asset": "BTC", "haircut": "0.1"}) is ASSET
    assert subjects.kind_for_spec({"market": "X", "asset": "Y"}) is None
    assert subjects.kind_for_spec({"symbol": "X"}) is None


def test_a_new_kind_is_found_by_the_generic_code_once_registered():
    fake = type("Fake", (), {"name": "fake_kind", "label": "fake"})()
    subjects.register(fake)
    try:
        assert subjects.subject_kind("fake_kind") is fake
        assert subjects.kind_for_spec({"fake_kind": "P"}) is fake
    finally:
        subjects.unregister("fake_kind")
    assert "fake_kind" not in [k.name for k in subjects.registered_kinds()]


def test_every_registered_kind_is_known_to_the_database():
    rows = dict(GovernedKind.objects.values_list("name", "version_table"))
    for kind in subjects.registered_kinds():
        assert rows[kind.name] == kind.version_model._meta.db_table


# --- kind-generic changes -----------------------------------------------------------------
def test_changes_carry_kind_subject_and_version_ids(make_proposal, market):
    p = make_proposal(
        changes=[
            {"market": "BTC-PERP", "liquidation_penalty": "0.003"},
            {"asset": "BTC", "haircut": "0.07"},
        ]
    )
    m, a = p.changes.order_by("kind")[1], p.changes.order_by("kind")[0]
    assert (m.kind, m.subject, a.kind, a.subject) == ("market", "BTC-PERP", "asset", "BTC")
    assert isinstance(m.version, MarketParameterVersion) and m.version.liquidation_penalty == Decimal("0.003")
    assert isinstance(a.version, AssetParameterVersion) and a.version.haircut == Decimal("0.07")
    assert m.base_version.status == a.base_version.status == VersionStatus.ACTIVE
    # the names of the per-kind foreign keys still read
    assert m.market_version_id == m.version_id and m.asset_version_id is None and m.asset_version is None
    assert a.asset_version == a.version and a.base_market_version is None


def test_structured_lint_errors_in_the_service_error(make_proposal, market):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"asset": "BTC", "haircut": "1"}])
    (e,) = exc.value.extra["errors"]
    assert e == {
        "where": "BTC haircut",
        "rule": "haircut_range",
        "message": "BTC haircut: 1 is not < 1",
        "subject": "BTC",
        "bracket": None,
        "field": "haircut",
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL guards")
def test_database_refuses_unknown_kind_and_missing_versions(make_proposal, market):
    p = make_proposal()
    c = p.changes.get()
    for bad in ({"kind": "nope"}, {"version_id": 10**9}, {"base_version_id": 10**9}):
        with pytest.raises(IntegrityError), transaction.atomic():
            ProposalChange.objects.filter(pk=c.pk).update(**bad)
    with pytest.raises(IntegrityError), transaction.atomic():  # PROTECT: a referenced draft stays
        MarketParameterVersion.objects.filter(pk=c.version_id).delete()
    with pytest.raises(IntegrityError), transaction.atomic():  # the same subject twice
        ProposalChange.objects.create(proposal=p, kind="market", subject=c.subject, version_id=c.version_id)


# --- migration ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_migration_0002_keeps_existing_changes_both_ways():
    before, after = [("governance", "0001_initial")], [("governance", "0002_proposalchange_kind")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="u")
    btc = old.get_model("markets", "Asset").objects.create(symbol="BTC")
    mkt = old.get_model("markets", "Market").objects.create(symbol="BTC-PERP", base_asset=btc)
    MV, AV = old.get_model("parameters", "MarketParameterVersion"), old.get_model("parameters", "AssetParameterVersion")
    common = {"liquidation_penalty": "0.002", "depth_usd_per_1pct": "1000"}
    mv1, mv2 = MV.objects.create(market=mkt, number=1, **common), MV.objects.create(market=mkt, number=2, **common)
    av1 = AV.objects.create(asset=btc, number=1, haircut="0.05")
    prop = old.get_model("governance", "Proposal").objects.create(
        title="t", rationale="r", proposer=user, proposer_name="u", requested_effective_at="2026-01-01T00:00Z"
    )
    Change = old.get_model("governance", "ProposalChange")
    cm = Change.objects.create(proposal=prop, market_version=mv2, base_market_version=mv1, subject="BTC-PERP")
    ca = Change.objects.create(proposal=prop, asset_version=av1, subject="BTC")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("governance", "ProposalChange")
    got = {c.pk: (c.kind, c.subject, c.version_id, c.base_version_id) for c in new.objects.all()}
    assert got == {cm.pk: ("market", "BTC-PERP", mv2.pk, mv1.pk), ca.pk: ("asset", "BTC", av1.pk, None)}

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("governance", "ProposalChange")
    rows = {
        c.pk: (c.market_version_id, c.base_market_version_id, c.asset_version_id, c.base_asset_version_id)
        for c in back.objects.all()
    }
    assert rows == {cm.pk: (mv2.pk, mv1.pk, None, None), ca.pk: (None, None, av1.pk, None)}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.parametrize("value", ["1e999", "1" * 32, "abc", "NaN"])
def test_unreadable_numbers_are_refused_naming_the_field(make_proposal, market, value):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"market": "BTC-PERP", "depth_usd_per_1pct": value}])
    (e,) = exc.value.extra["errors"]
    assert e["field"] == "depth_usd_per_1pct" and e["rule"] in {"not_a_number", "out_of_range"}
