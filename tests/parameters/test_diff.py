"""Field-by-field diff between two versions of a market."""

from decimal import Decimal

import pytest

from riskgov.parameters.selectors import market_version_diff
from tests.factories import MarketFactory, market_version

pytestmark = pytest.mark.django_db


def test_diff_lists_changed_fields_brackets_and_relative_change():
    a = market_version()
    b = market_version(
        a.market,
        rows=((0, "0.01", "0.004"), (300000, "0.025", "0.006")),
        liquidation_penalty=Decimal("0.003"),
    )
    changes = {c.path: c for c in market_version_diff(a, b)}
    assert changes["liquidation_penalty"].before == "0.002"
    assert changes["liquidation_penalty"].relative == Decimal("0.5")
    assert changes["brackets[2].initial_margin_fraction"].after == "0.025"
    # C_2 moves with MMF_2: 300000·(0.006 − 0.004) = 600
    assert Decimal(changes["brackets[2].maintenance_amount"].after) == Decimal(600)
    assert changes["brackets[3].notional_floor"].after is None  # bracket 3 removed
    assert "brackets[1].initial_margin_fraction" not in changes
    assert "depth_usd_per_1pct" not in changes
    assert "liquidation_horizon_minutes" not in changes


def test_diff_against_nothing_lists_everything_and_refuses_other_markets():
    a = market_version()
    assert len(market_version_diff(None, a)) == 6 - 1 + 3 * 4  # max notional None both sides
    other = market_version(MarketFactory(symbol="ETH-PERP"))
    with pytest.raises(ValueError):
        market_version_diff(a, other)
