"""Invariants held by the database itself: a direct write that breaks one fails.

Single-row rules are CHECK constraints (both databases); the partial unique index gives one
active version per market; on PostgreSQL triggers freeze non-draft versions and check the
cross-row bracket rules at commit (forced here with SET CONSTRAINTS ALL IMMEDIATE).
"""

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from riskgov.parameters.models import Bracket, MarketParameterVersion, VersionStatus
from tests.factories import MarketFactory, market_version

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")


def fails(fn):
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        fn()
        if connection.vendor == "postgresql":
            with connection.cursor() as c:
                c.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_one_active_version_per_market():
    v1 = market_version(status=VersionStatus.ACTIVE)
    v2 = market_version(v1.market)
    fails(lambda: MarketParameterVersion.objects.filter(pk=v2.pk).update(status=VersionStatus.ACTIVE))
    other = market_version(MarketFactory(symbol="ETH-PERP"), status=VersionStatus.ACTIVE)
    assert other.status == VersionStatus.ACTIVE  # other markets are independent


@pytest.mark.parametrize(
    "imf,mmf",
    [("0.01", "0.01"), ("0.01", "0.02"), ("1.5", "0.1"), ("0.01", "0"), ("0.01", "-0.001")],
)
def test_bracket_fraction_checks(imf, mmf):
    v = market_version()
    fails(
        lambda: Bracket.objects.create(
            version=v,
            index=9,
            notional_floor=Decimal("9e9"),
            initial_margin_fraction=Decimal(imf),
            maintenance_margin_fraction=Decimal(mmf),
            maintenance_amount=Decimal(0),
        )
    )


def test_first_floor_must_be_zero_and_others_positive():
    v = market_version()
    fails(lambda: Bracket.objects.filter(version=v, index=1).update(notional_floor=Decimal(5)))
    fails(lambda: Bracket.objects.filter(version=v, index=2).update(notional_floor=Decimal(0)))


def test_version_field_checks():
    v = market_version()
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).update(depth_usd_per_1pct=0))
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).update(oi_cap_lower_usd=10, oi_cap_upper_usd=5))
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).update(status="bogus"))
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).update(number=0))


@postgres_only
def test_floors_must_increase_across_rows():
    v = market_version()
    fails(lambda: Bracket.objects.filter(version=v, index=3).update(notional_floor=Decimal(200000)))


@postgres_only
def test_fractions_must_not_decrease_across_rows():
    v = market_version()
    fails(lambda: Bracket.objects.filter(version=v, index=3).update(initial_margin_fraction=Decimal("0.015")))


@postgres_only
def test_maintenance_amount_must_be_the_derived_one():
    v = market_version()
    fails(lambda: Bracket.objects.filter(version=v, index=2).update(maintenance_amount=Decimal(1)))


@postgres_only
def test_non_draft_versions_are_frozen():
    v = market_version(status=VersionStatus.ACTIVE)
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).update(liquidation_penalty=Decimal("0.003")))
    fails(lambda: Bracket.objects.filter(version=v, index=1).update(initial_margin_fraction=Decimal("0.011")))
    fails(lambda: Bracket.objects.filter(version=v).delete())
    fails(lambda: MarketParameterVersion.objects.filter(pk=v.pk).delete())
    # ...but its status may move on (activation/supersession), through the audited service.
    from riskgov.parameters.services import market_version_set_status

    market_version_set_status(version=v, status=VersionStatus.SUPERSEDED)
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _raw(sql, *params):
    with connection.cursor() as c:
        c.execute(sql, params)


@postgres_only
@pytest.mark.parametrize(
    "start,to",
    [("active", "draft"), ("approved", "draft"), ("superseded", "active"), ("active", "approved"), ("draft", "active")],
)
def test_status_never_moves_back_or_skips(start, to):
    """Issue 13.1: SET status='draft' used to thaw an approved version for editing."""
    from riskgov.parameters.services import market_version_set_status

    v = market_version(status=VersionStatus.ACTIVE if start in ("active", "superseded") else VersionStatus.DRAFT)
    if start == "approved":
        market_version_set_status(version=v, status=VersionStatus.APPROVED)
    if start == "superseded":
        market_version_set_status(version=v, status=VersionStatus.SUPERSEDED)
    fails(lambda: _raw("UPDATE parameters_marketparameterversion SET status = %s WHERE id = %s", to, v.pk))


@postgres_only
def test_the_thaw_edit_refreeze_attack_fails():
    v = market_version(status=VersionStatus.ACTIVE)

    def attack():
        _raw("UPDATE parameters_marketparameterversion SET status = 'draft' WHERE id = %s", v.pk)
        _raw("UPDATE parameters_marketparameterversion SET liquidation_penalty = 0.5 WHERE id = %s", v.pk)
        _raw("UPDATE parameters_marketparameterversion SET status = 'active' WHERE id = %s", v.pk)

    fails(attack)
    v.refresh_from_db()
    assert v.liquidation_penalty == Decimal("0.002") and v.status == VersionStatus.ACTIVE


@postgres_only
def test_a_status_change_without_its_audit_event_is_refused_at_commit():
    """An allowed transition made by hand (no governance service, no audit row) rolls back."""
    v = market_version()
    fails(lambda: _raw("UPDATE parameters_marketparameterversion SET status = 'approved' WHERE id = %s", v.pk))


@postgres_only
def test_a_version_is_born_a_draft():
    v = market_version()
    fails(
        lambda: _raw(
            "INSERT INTO parameters_marketparameterversion (market_id, number, status, reason, created_by_name,"
            " created_at, liquidation_penalty, depth_usd_per_1pct, oi_cap_lower_usd, oi_cap_upper_usd)"
            " VALUES (%s, 99, 'active', '', '', now(), 0.002, 1, 0, 0)",
            v.market_id,
        )
    )


@postgres_only
def test_the_service_transition_writes_its_audit_event_and_commits():
    from riskgov.core.models import AuditEvent
    from riskgov.parameters.services import market_version_set_status

    v = market_version()
    market_version_set_status(version=v, status=VersionStatus.APPROVED, reason="ok")
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert AuditEvent.objects.filter(object_id=str(v.pk), to_state="approved", action__endswith=".status").exists()


@postgres_only
def test_drafts_stay_editable():
    v = market_version()
    Bracket.objects.filter(version=v, index=3).update(initial_margin_fraction=Decimal("0.06"))
    with connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert v.brackets.get(index=3).initial_margin_fraction == Decimal("0.06")
