from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    """Venue snapshots: accounts, balances, positions, prices, insurance fund."""

    name = "riskgov.snapshots"
    label = "snapshots"
    verbose_name = "Snapshots"
