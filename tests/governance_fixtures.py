"""Governance fixtures (a pytest plugin, registered in tests/conftest.py): people in each role,
an active BTC-PERP/BTC parameter set, helpers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from riskgov.parameters.models import VersionStatus
from tests.factories import AssetFactory, MarketFactory, UserFactory, market_version


@pytest.fixture
def people(db):
    """Analysts (proposer, co-author), three committee members, one analyst+committee, viewer, admin."""
    return {
        "analyst": UserFactory(username="ana", roles=[ANALYST]),
        "coauthor": UserFactory(username="cody", roles=[ANALYST]),
        "m1": UserFactory(username="m1", roles=[COMMITTEE]),
        "m2": UserFactory(username="m2", roles=[COMMITTEE]),
        "m3": UserFactory(username="m3", roles=[COMMITTEE]),
        "both": UserFactory(username="both", roles=[ANALYST, COMMITTEE]),
        "viewer": UserFactory(username="vic", roles=[VIEWER]),
        "admin": UserFactory(username="adam", roles=[ADMIN]),
    }


@pytest.fixture
def market(db):
    """BTC-PERP with an active v1 (brackets 0/300k/1M, penalty 0.002) and BTC haircut 0.05 active."""
    from riskgov.parameters.services import asset_version_create

    btc = AssetFactory(symbol="BTC")
    m = MarketFactory(symbol="BTC-PERP", base_asset=btc)
    market_version(m, status=VersionStatus.ACTIVE)
    asset_version_create(asset=btc, haircut=Decimal("0.05"), status=VersionStatus.ACTIVE)
    return m


def later(**kw):
    return timezone.now() + timedelta(**kw)


BRACKETS = [
    {"notional_floor": "0", "initial_margin_fraction": "0.01", "maintenance_margin_fraction": "0.004"},
    {"notional_floor": "300000", "initial_margin_fraction": "0.022", "maintenance_margin_fraction": "0.005"},
    {"notional_floor": "1000000", "initial_margin_fraction": "0.05", "maintenance_margin_fraction": "0.01"},
]


@pytest.fixture
def make_proposal(people, market):
    """``make_proposal(changes=..., effective_at=..., co_authors=...)`` as the analyst."""
    from riskgov.governance.services import proposal_create

    def make(changes=None, effective_at=None, by=None, co_authors=(), title="Raise BTC IMF"):
        return proposal_create(
            by=by or people["analyst"],
            title=title,
            rationale="volatility is up",
            effective_at=effective_at or later(days=3),
            changes=changes if changes is not None else [{"market": "BTC-PERP", "brackets": BRACKETS}],
            co_authors=co_authors,
        )

    return make


#: a frozen impact for tests that vote: the impact job leaves on commit, which a ``db`` test
#: never reaches, and votes on a normal proposal wait for a frozen impact
IMPACT_STUB = {"format": "riskgov.impact/1", "note": "test stub: no impact run"}


def submit_for_votes(proposal, by, **kw):
    """``proposal_submit``, then freeze ``IMPACT_STUB`` for its revision (votes open)."""
    from riskgov.governance.services import proposal_record_impact, proposal_submit

    p = proposal_submit(proposal=proposal, by=by, **kw)
    return proposal_record_impact(proposal=p, impact=IMPACT_STUB, revision=p.revision)
