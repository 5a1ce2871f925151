from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Proposals, votes, policy (quorum, timelock, fast-track bounds), activation, emergencies."""

    name = "riskgov.governance"
    label = "governance"
    verbose_name = "Governance"
