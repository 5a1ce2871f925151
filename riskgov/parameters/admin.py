"""Admin for parameters. Versions are read-only here: they change only through services
(import, governance), never by editing a row; approved versions are immutable."""

from django.contrib import admin

from riskgov.parameters.models import AssetParameterVersion, Bracket, MarketParameterVersion, ParameterImport


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BracketInline(admin.TabularInline):
    model = Bracket
    extra = 0
    fields = ("index", "notional_floor", "initial_margin_fraction", "maintenance_margin_fraction", "maintenance_amount")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MarketParameterVersion)
class MarketParameterVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "market",
        "number",
        "status",
        "liquidation_penalty",
        "depth_usd_per_1pct",
        "created_at",
        "activated_at",
    )
    list_filter = ("status",)
    search_fields = ("market__symbol",)
    list_select_related = ("market",)
    inlines = [BracketInline]


@admin.register(AssetParameterVersion)
class AssetParameterVersionAdmin(ReadOnlyAdmin):
    list_display = ("asset", "number", "status", "haircut", "created_at", "activated_at")
    list_filter = ("status",)
    list_select_related = ("asset",)


@admin.register(ParameterImport)
class ParameterImportAdmin(ReadOnlyAdmin):
    list_display = ("name", "venue", "is_reference", "file_name", "created_at")
    list_filter = ("venue", "is_reference")
    exclude = ("document",)
