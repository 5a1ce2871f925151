from django.contrib import admin

from riskgov.markets.models import Asset, DailyClose, Market, PriceBar


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("symbol", "name", "stable", "created_at")
    search_fields = ("symbol", "name")


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("symbol", "base_asset", "created_at")
    search_fields = ("symbol",)
    list_select_related = ("base_asset",)


@admin.register(DailyClose)
class DailyCloseAdmin(admin.ModelAdmin):
    list_display = ("asset", "source", "date", "close")
    list_filter = ("source", "asset")
    date_hierarchy = "date"
    list_select_related = ("asset",)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PriceBar)
class PriceBarAdmin(admin.ModelAdmin):
    list_display = ("asset", "source", "resolution", "timestamp", "close")
    list_filter = ("resolution", "source", "asset")
    date_hierarchy = "timestamp"
    list_select_related = ("asset",)

    def has_change_permission(self, request, obj=None):
        return False
