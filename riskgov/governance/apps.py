from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def sync_governed_kinds(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    """Make ``GovernedKind`` hold one row per registered subject kind (its version table).

    Runs after ``migrate`` and after ``flush`` (which empties the table, e.g. between
    transactional tests); the kinds' migrations write the same rows. Does nothing when the
    table does not exist (migrated back before ``governance/0002``).
    """
    from django.db import connections

    from riskgov.core.subjects import registered_kinds
    from riskgov.governance.models import GovernedKind

    if GovernedKind._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated back before governance 0002
    for kind in registered_kinds():
        GovernedKind.objects.using(using).update_or_create(
            name=kind.name, defaults={"version_table": kind.version_model._meta.db_table}
        )


class GovernanceConfig(AppConfig):
    """Proposals, votes, policy (quorum, timelock, fast-track bounds), activation, emergencies."""

    name = "riskgov.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        """Register the ``policy`` subject kind; keep ``GovernedKind`` in step with the registry."""
        from riskgov.governance import subjects  # noqa: F401

        post_migrate.connect(sync_governed_kinds, sender=self, dispatch_uid="riskgov.governance.sync_governed_kinds")
