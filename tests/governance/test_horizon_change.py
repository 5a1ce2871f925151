"""A proposal or an emergency changing only the liquidation horizon (RISK_MODEL §12, §13)."""

from decimal import Decimal

import pytest

from riskgov.governance import services as gs
from riskgov.parameters.models import MarketParameterVersion
from tests.governance.conftest import later
from tests.governance.test_services import active, approve_all, submit

pytestmark = pytest.mark.django_db


def test_proposal_changing_only_the_horizon_activates(make_proposal, people):
    old = active()
    p = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_horizon_minutes": "15"}], title="Slower close")
    draft = p.changes.get().market_version
    assert draft.liquidation_horizon_minutes == Decimal(15)
    assert [b.maintenance_margin_fraction for b in draft.brackets.order_by("index")] == [
        b.maintenance_margin_fraction for b in old.brackets.order_by("index")
    ]
    p = approve_all(submit(p, people), people, "m1", "m2")
    assert gs.proposals_activate_due(now=later(days=4)) == [p.pk]
    new = active()
    assert new.pk == draft.pk and new.liquidation_horizon_minutes == Decimal(15)
    assert MarketParameterVersion.objects.get(pk=old.pk).liquidation_horizon_minutes == Decimal(5)


def test_proposal_refuses_a_bad_horizon_with_its_rule(make_proposal):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"market": "BTC-PERP", "liquidation_horizon_minutes": "0"}])
    assert [(e.rule, e.field) for e in exc.value.errors] == [("horizon_positive", "liquidation_horizon_minutes")]


def test_emergency_may_lengthen_the_horizon_but_not_shorten_it(people, market):
    change = {"market": "BTC-PERP", "liquidation_horizon_minutes": "30"}
    assert gs.emergency_change(by=people["m1"], rationale="slow chain", changes=[change]).status == "active"
    with pytest.raises(gs.LintFailed) as exc:
        gs.emergency_change(
            by=people["m1"], rationale="x", changes=[{"market": "BTC-PERP", "liquidation_horizon_minutes": "1"}]
        )
    assert [e.rule for e in exc.value.errors] == ["horizon_shorter"]
