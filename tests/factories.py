"""factory_boy factories for the Django models (factories over fixtures, STYLE rule 13)."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from riskgov.markets.models import Asset, Market, PriceBar
from riskgov.parameters.models import VersionStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            for role in extracted:
                self.groups.add(Group.objects.get_or_create(name=role)[0])
        if create:
            self.save()


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: f"A{n}")
    stable = False


class MarketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Market
        django_get_or_create = ("symbol",)

    base_asset = factory.SubFactory(AssetFactory)
    symbol = factory.LazyAttribute(lambda m: f"{m.base_asset.symbol}-PERP")


class PriceBarFactory(factory.django.DjangoModelFactory):
    """One price bar; ``timestamp`` is the bar's open time (its close is the price at open + resolution)."""

    class Meta:
        model = PriceBar

    asset = factory.SubFactory(AssetFactory)
    source = "binance"
    resolution = "1h"
    timestamp = factory.Sequence(lambda n: dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n))
    date = factory.LazyAttribute(lambda b: b.timestamp.astimezone(dt.UTC).date())
    close = Decimal(100)


def brackets(*rows):
    """``brackets((0, "0.01", "0.004"), (300000, "0.02", "0.005"))`` -> service input."""
    return [
        {
            "notional_floor": Decimal(str(f)),
            "initial_margin_fraction": Decimal(i),
            "maintenance_margin_fraction": Decimal(m),
        }
        for f, i, m in rows
    ]


BTC_BRACKETS = ((0, "0.01", "0.004"), (300000, "0.02", "0.005"), (1000000, "0.05", "0.01"))


def market_version(market=None, *, rows=BTC_BRACKETS, status=VersionStatus.DRAFT, by=None, **fields):
    """Create a market version through the service (as the product does)."""
    from riskgov.parameters.services import market_version_create

    market = market or MarketFactory(base_asset=AssetFactory(symbol="BTC"))
    values = {
        "liquidation_penalty": Decimal("0.002"),
        "depth_usd_per_1pct": Decimal("50000000"),
        "oi_cap_lower_usd": Decimal(0),
        "oi_cap_upper_usd": Decimal(0),
        "max_position_notional_usd": None,
    }
    values.update(fields)
    return market_version_create(market=market, fields=values, brackets=brackets(*rows), by=by, status=status)


def parameter_document(**overrides):
    """A small valid riskgov.parameters/1 document."""
    doc = {
        "format": "riskgov.parameters/1",
        "name": "Test venue",
        "source": "tests",
        "assets": [{"symbol": "USDT", "haircut": "0", "stable": True}, {"symbol": "BTC", "haircut": "0.05"}],
        "markets": [
            {
                "symbol": "BTC-PERP",
                "base_asset": "BTC",
                "liquidation_penalty": "0.002",
                "depth_usd_per_1pct": "50000000",
                "oi_cap_lower_usd": "0",
                "oi_cap_upper_usd": "0",
                "max_position_notional_usd": None,
                "brackets": [
                    {"notional_floor": "0", "initial_margin_fraction": "0.01", "maintenance_margin_fraction": "0.004"},
                    {
                        "notional_floor": "300000",
                        "initial_margin_fraction": "0.02",
                        "maintenance_margin_fraction": "0.005",
                    },
                ],
            }
        ],
    }
    doc.update(overrides)
    return doc
