"""Admin: markets, assets and prices are read-only here (imports and services write them, audited)."""

from django.contrib import admin

from riskgov.core.admin import ReadOnlyAdmin
from riskgov.markets.models import Asset, DailyClose, Market, PriceBar


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "name", "stable", "created_at")
    search_fields = ("symbol", "name")


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "base_asset", "created_at")
    search_fields = ("symbol",)
    list_select_related = ("base_asset",)


@admin.register(DailyClose)
class DailyCloseAdmin(ReadOnlyAdmin):
    list_display = ("asset", "source", "date", "close")
    list_filter = ("source", "asset")
    date_hierarchy = "date"
    list_select_related = ("asset",)


@admin.register(PriceBar)
class PriceBarAdmin(ReadOnlyAdmin):
    list_display = ("asset", "source", "resolution", "timestamp", "close")
    list_filter = ("resolution", "source", "asset")
    date_hierarchy = "timestamp"
    list_select_related = ("asset",)
