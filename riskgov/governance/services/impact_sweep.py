"""The sweep that makes every submitted proposal's impact analysis end (the pattern of the
health runs' ``lifecycle.health_runs_sweep``): recorded, or failed with its reason — never
"queued" forever.

A submitted proposal's impact is one ``governance.impact`` job (it starts an impact run and
names it in an ``impact_started`` audit record) and one ``governance.impact_collect`` job
(it freezes the finished run's comparison). The beat task ``governance.impact_sweep`` (every
minute) looks at each submitted proposal whose current revision has no frozen impact:

* **job lost** — no ``impact_started`` record for the revision
  ``RISKGOV_IMPACT_START_TIMEOUT_SECONDS`` after it was submitted (or last re-sent): the
  message was lost or its worker died before starting the run. The job is sent again (an
  ``impact_redispatched`` audit record) up to ``RISKGOV_IMPACT_MAX_REDISPATCH`` times, then
  the reason is frozen as the impact (``{"error": …}``): votes open and the proposal page
  says why there are no figures;
* **collector lost** — the named run has finished (published or failed) more than
  ``RISKGOV_IMPACT_COLLECT_STALE_SECONDS`` ago and nothing froze it: the sweep freezes it
  itself (``impact.proposal_impact_collect``: the comparison, or the run's failure reason);
* a run still pending or running is the health sweep's (deadline, lost chunks): once it has
  failed or been published, the step above freezes it.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from riskgov.core.models import AuditEvent
from riskgov.governance.models import Proposal, ProposalStatus
from riskgov.governance.selectors import proposal_impact_frozen
from riskgov.governance.services._base import _audit, _lock

log = logging.getLogger(__name__)

__all__ = ["proposal_impacts_sweep"]


def _start_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "RISKGOV_IMPACT_START_TIMEOUT_SECONDS", 900)))


def _collect_stale() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "RISKGOV_IMPACT_COLLECT_STALE_SECONDS", 120)))


def _max_redispatch() -> int:
    return int(getattr(settings, "RISKGOV_IMPACT_MAX_REDISPATCH", 2))


def _records(p: Proposal, action: str):
    return AuditEvent.objects.filter(
        object_type=Proposal._meta.label_lower,
        object_id=str(p.pk),
        action=f"governance.proposal.{action}",
        after__revision=p.revision,
    ).order_by("-created_at", "-id")


def _send(proposal_id: int, revision: int) -> None:
    from riskgov.core.background import dispatch
    from riskgov.governance.tasks import governance_impact

    dispatch(governance_impact, proposal_id, revision)


def _freeze_failure(p: Proposal, reason: str) -> None:
    from riskgov.governance.services.proposals import proposal_record_impact

    proposal_record_impact(proposal=p, impact={"format": "riskgov.impact/1", "error": reason}, revision=p.revision)


def _sweep_one(pk: int, *, now: dt.datetime) -> list[str]:
    from riskgov.governance.impact import proposal_impact_collect
    from riskgov.health.models import HealthRun, RunStatus

    with transaction.atomic():
        p = _lock(Proposal.objects.get(pk=pk))
        if p.status != ProposalStatus.SUBMITTED or proposal_impact_frozen(p):
            return []
        started = _records(p, "impact_started").values_list("after", flat=True).first()
        if started is None:
            resent = list(_records(p, "impact_redispatched").values_list("created_at", flat=True))
            since = max([t for t in [p.submitted_at, *resent[:1]] if t is not None], default=None)
            if since is None or now - since < _start_timeout():
                return []
            waited = (now - since).total_seconds()
            if len(resent) >= _max_redispatch():
                reason = (
                    f"impact analysis lost: its job did not start within {_start_timeout().total_seconds():.0f} s,"
                    f" {len(resent)} re-dispatch{'es' if len(resent) != 1 else ''} included (worker or message lost)"
                )
                _freeze_failure(p, reason)
                log.warning("proposal %s: %s", p.pk, reason)
                return [f"proposal {p.pk}: impact failed ({reason})"]
            attempt = len(resent) + 1
            _audit(
                p,
                by=None,
                action="impact_redispatched",
                after={"revision": p.revision, "attempt": attempt},
                comment=f"impact job not started after {waited:.0f} s: sent again",
            )
            rid, rev = p.pk, p.revision
            transaction.on_commit(lambda: _send(rid, rev))
            return [f"proposal {p.pk}: impact job sent again ({attempt})"]
        run = HealthRun.objects.filter(pk=(started or {}).get("run")).first()
        if run is None:
            _freeze_failure(p, f"impact run #{(started or {}).get('run')} no longer exists")
            return [f"proposal {p.pk}: impact failed (run gone)"]
        finished = run.status == RunStatus.FAILED or run.published_at is not None
        ended = run.finished_at or run.published_at
        if not finished or (ended is not None and now - ended < _collect_stale()):
            return []  # running: the health sweep ends it; just finished: its collector freezes it
        rid, rev, run_id = p.pk, p.revision, run.pk
    outcome = proposal_impact_collect(proposal_id=rid, revision=rev, run_id=run_id)
    return [f"proposal {rid}: impact of run {run_id} frozen by the sweep ({outcome})"]


def proposal_impacts_sweep(*, now: dt.datetime | None = None) -> list[str]:
    """Make every submitted proposal's impact analysis end (module docstring; idempotent,
    each proposal handled under its row lock). Returns one line per action taken."""
    now = now or timezone.now()
    ids = Proposal.objects.filter(status=ProposalStatus.SUBMITTED).order_by("pk").values_list("pk", flat=True)
    actions: list[str] = []
    for pk in list(ids):
        actions.extend(_sweep_one(pk, now=now))
    return actions
