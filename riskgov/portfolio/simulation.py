"""The margin simulator's app side (FORMATS.md "Margin simulation", RISK_MODEL §14).

The pure core is :func:`riskgov.engine.margin_simulation.simulate_margin`; here are only
the governed parameters it needs: ``pm: null`` in a request means the **active** PM
parameters of that underlying (:func:`margin_simulate`), and a proposal's PM changes can
stand in for them (:func:`proposal_pm_params`) so a page compares active vs proposed on
the same book. Read-only: nothing is written, nothing is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE
from riskgov.engine.margin_simulation import MarginRequestError, simulate_margin
from riskgov.engine.portfolio_margin import PMParams
from riskgov.portfolio.adapters import active_pm_params, pm_params
from riskgov.portfolio.models import PMParameterVersion

__all__ = ["SIMULATOR_ROLES", "MarginRequestError", "margin_simulate", "pm_proposals_open", "proposal_pm_params"]

OPEN_STATUSES = ("draft", "submitted", "approved", "scheduled")
#: who may simulate (API and page): a what-if for analysts (DESIGN "Roles"), and committee
#: members weighing a PM proposal before they vote; admins. Viewers only read.
SIMULATOR_ROLES = (ANALYST, COMMITTEE, ADMIN)


def _symbols(request: Any) -> list[str] | None:
    unds = request.get("underlyings") if isinstance(request, dict) else None
    if not isinstance(unds, list):
        return None
    return [u["asset"] for u in unds if isinstance(u, dict) and isinstance(u.get("asset"), str)]


def margin_simulate(*, request: Any, pm: Mapping[str, PMParams] | None = None) -> dict:
    """``riskgov.margin_request/1`` → ``riskgov.margin_result/1`` with the governed parameters.

    Args:
        request: the parsed request document.
        pm: parameters that replace the active ones per underlying (a proposal's); an
            underlying with ``pm`` given inline in the request uses those.

    Raises:
        MarginRequestError: bad request (one line ``<field path>: <why>``).
    """
    symbols = _symbols(request)
    active = active_pm_params(symbols=symbols) if symbols else {}
    if pm:
        active.update(pm)
    return simulate_margin(request, active_pm=active)


def proposal_pm_params(proposal: Any) -> dict[str, PMParams]:
    """``{underlying: PMParams}`` of a proposal's ``pm`` changes (empty when it has none)."""
    ids = dict(proposal.changes.filter(kind="pm").values_list("version_id", "subject"))
    versions = PMParameterVersion.objects.select_related("underlying").in_bulk(list(ids))
    return {ids[pk]: pm_params(v) for pk, v in versions.items()}


def pm_proposals_open() -> QuerySet:
    """Open proposals (draft … scheduled) that change PM parameters, newest first."""
    from riskgov.governance.models import Proposal

    return Proposal.objects.filter(status__in=OPEN_STATUSES, changes__kind="pm").distinct().order_by("-pk")
