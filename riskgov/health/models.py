"""Health runs and their stored results (DESIGN.md "The main job", RISK_MODEL §5–§12).

A ``HealthRun`` evaluates one snapshot against one parameter set (the active versions, or
the active versions overlaid with a proposal's drafts for an *impact* run). It is computed
in account-range chunks (``RunChunk``) whose partial aggregates combine exactly, then
finalized and **published** atomically: readers only ever see runs with ``published_at``
set (``selectors``), so a half-written run is invisible.

Money is in USD, stored as float64 (``FloatField``): results are engine output (float64,
RISK_MODEL §1 tolerance), not exact inputs. A ``NULL`` ratio means infinity (nothing to
cover, or ``E ≤ 0 < MM``); a ``NULL`` price means "none" (§7), as in ``riskgov.health/1``.

Status changes only inside ``services`` (STYLE rule 7).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Manual"
    IMPACT = "impact", "Impact (proposal what-if)"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class HealthRun(models.Model):
    """One health run of a snapshot: provenance, progress, venue totals and tail metrics.

    Totals follow FORMATS.md ``totals`` (§5, §6, §9); tail columns follow §10 over the
    run's tail population (``tail["population"]``). ``cascade`` holds the §11 rounds of
    the worst scenario, ``adl`` the §8 attribution of its ADL amount, ``recommendations``
    the §12 recommendation and Kupiec backtest per market for horizons 1 and 3 days.
    """

    snapshot = models.ForeignKey("snapshots.Snapshot", on_delete=models.PROTECT, related_name="health_runs")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.MANUAL, db_index=True)
    label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0–100 %")
    chunk_accounts = models.PositiveIntegerField(default=250_000, help_text="accounts per chunk")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per phase")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # lifecycle (every run ends: published, or failed with its reason, by ``deadline_at``)
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="the sweep fails the run after this")
    queue = models.CharField(max_length=200, blank=True, help_text="queue its chunks and finalize are sent to")
    finalize_dispatched_at = models.DateTimeField(null=True, blank=True)
    finalize_dispatches = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="finalize's last heartbeat")

    # provenance (reproducibility)
    market_versions = models.JSONField(default=dict, help_text="{market symbol: MarketParameterVersion id}")
    asset_versions = models.JSONField(default=dict, help_text="{asset symbol: AssetParameterVersion id}")
    pm_versions = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text="{underlying symbol: PMParameterVersion id} frozen at creation (RISK_MODEL §14); "
        "NULL = a run created before PM parameters were recorded (the active ones are used)",
    )
    overrides = models.JSONField(default=list, blank=True, help_text="[{'kind': 'market'|'asset', 'id': …}]")
    parameters_name = models.CharField(max_length=300, blank=True)
    parameters_version = models.CharField(max_length=64, blank=True)
    code_version = models.CharField(max_length=120, blank=True)
    input_hash = models.CharField(max_length=64, blank=True, db_index=True)
    scenario_spec = models.JSONField(default=dict, blank=True)

    # totals (FORMATS.md "totals"); NULL until published
    n_accounts = models.BigIntegerField(null=True, blank=True)
    n_positions = models.BigIntegerField(null=True, blank=True)
    equity_usd = models.FloatField(null=True, blank=True)
    initial_margin_usd = models.FloatField(null=True, blank=True)
    maintenance_margin_usd = models.FloatField(null=True, blank=True)
    liquidatable_accounts = models.BigIntegerField(null=True, blank=True)
    bankrupt_accounts = models.BigIntegerField(null=True, blank=True)
    shortfall_usd = models.FloatField(null=True, blank=True)
    insurance_fund_usd = models.FloatField(null=True, blank=True)
    coverage_ratio = models.FloatField(null=True, blank=True, help_text="IF/S; NULL = infinity")

    # tail (§10)
    tail_alpha = models.FloatField(null=True, blank=True)
    tail_scenarios = models.PositiveIntegerField(null=True, blank=True)
    var_usd = models.FloatField(null=True, blank=True)
    es_usd = models.FloatField(null=True, blank=True)
    cover2_usd = models.FloatField(null=True, blank=True)
    coverage_at_es = models.FloatField(null=True, blank=True, help_text="IF/ES; NULL = infinity")
    tail = models.JSONField(default=dict, blank=True, help_text="k, population, Cover-2 coverage, …")

    tails = models.JSONField(
        default=list,
        blank=True,
        help_text="§10 tails per scenario family: [{family, label, alpha, scenarios, k, var_usd, es_usd, "
        "mean_shortfall_usd, worst_shortfall_usd, cover2_usd, coverage_at_es, …}]",
    )
    replay = models.JSONField(
        default=dict,
        blank=True,
        help_text="§9/§11 replay of the worst 1-day path: per step prices, MM coverage, shortfall",
    )
    impact = models.JSONField(default=dict, blank=True, help_text="§15 comparison of a what-if run with the active set")
    parameters_document = models.JSONField(
        null=True,
        blank=True,
        help_text="what-if run: the riskgov.parameters/1 document overlaid on the active set (nothing activated)",
    )
    cascade = models.JSONField(default=dict, blank=True, help_text="§11 rounds of the worst scenario")
    adl = models.JSONField(default=dict, blank=True, help_text="§8 ADL attribution of the worst scenario")
    recommendations = models.JSONField(default=list, blank=True, help_text="§12 per market, h = 1 and 3 days")
    distributions = models.JSONField(
        default=dict, blank=True, help_text="dashboard histograms and per-market sums (health.distributions)"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="health_run_progress_le_100"),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | Q(status=RunStatus.SUCCEEDED),
                name="health_run_published_only_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in RunStatus]), name="health_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"health run {self.pk} ({self.kind}, {self.status})"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class RunScenarioSet(models.Model):
    """The exact scenario set of a run (§9), frozen at creation so every chunk uses the same.

    ``shocks`` is ``(S, A)`` relative shocks, columns in the order of ``asset_symbols`` (the
    engine parameter set's assets). ``meta`` records which assets were held at their price
    in historical scenarios (no history, no proxy) and which named crash days were found.
    """

    run = models.OneToOneField(HealthRun, on_delete=models.CASCADE, related_name="scenario_set")
    asset_symbols = models.JSONField()
    names = models.JSONField()
    kinds = models.JSONField()
    start_dates = models.JSONField()
    end_dates = models.JSONField()
    in_tail = models.JSONField(help_text="(S,) bool: scenario belongs to the VaR/ES population")
    shocks = models.JSONField()
    sha256 = models.CharField(max_length=64)
    meta = models.JSONField(default=dict, blank=True)
    families = models.JSONField(
        default=list, blank=True, help_text="path families: label, kind, steps, names, starts, interpolated shares"
    )
    paths = models.BinaryField(default=b"", blank=True, help_text="compressed .npz of the path families' shocks")

    def __str__(self) -> str:
        return f"scenarios of run {self.run_id}"


class RunChunk(models.Model):
    """One account range ``[first_account, last_account)`` of a run and its partial aggregates.

    Lifecycle: ``pending`` (message sent at ``dispatched_at``) → ``running`` (a worker
    started it at ``started_at`` and beats ``heartbeat_at``) → ``done``. The sweep sends a
    chunk again when its message or its worker was lost (``services.sweep``).

    ``partial`` holds sums that combine exactly across chunks: base totals, and per scenario
    (``S``-long lists) liquidated/bankrupt counts, shortfall, penalties and the two largest
    account shortfalls with their (global) account indices.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="chunks")
    first_account = models.PositiveIntegerField()
    last_account = models.PositiveIntegerField(help_text="exclusive")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    partial = models.JSONField(default=dict, blank=True)
    seconds = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="times a worker started it")
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="its message was last sent")
    dispatches = models.PositiveIntegerField(default=0, help_text="messages sent (1 + re-dispatches)")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host and pid that last started it")

    class Meta:
        ordering = ["run", "first_account"]
        constraints = [
            models.UniqueConstraint(fields=["run", "first_account"], name="run_chunk_unique"),
            models.CheckConstraint(condition=Q(last_account__gt=models.F("first_account")), name="run_chunk_range"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} accounts [{self.first_account}, {self.last_account}) {self.status}"


class AccountResult(models.Model):
    """One account's base-pass result (§4–§6) and stress shortfall (§8, §9). ``margin_ratio``
    NULL = infinity; ``stress_shortfall_usd`` NULL = not computed (never read as 0)."""

    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="account_results")
    account_idx = models.PositiveIntegerField()
    account_id = models.CharField(max_length=100)
    equity_usd = models.FloatField()
    initial_margin_usd = models.FloatField()
    maintenance_margin_usd = models.FloatField()
    margin_ratio = models.FloatField(null=True, blank=True)
    liquidatable = models.BooleanField()
    bankrupt = models.BooleanField()
    shortfall_usd = models.FloatField()
    notional_usd = models.FloatField(
        null=True, blank=True, help_text="gross position notional Σ|N| (USD); NULL: run stored before the column"
    )
    stress_shortfall_usd = models.FloatField(
        null=True,
        blank=True,
        help_text="largest account shortfall over the run's gap scenarios (USD, §8, §9); NULL = not computed",
    )
    stress_scenario_idx = models.PositiveIntegerField(
        null=True, blank=True, help_text="ScenarioResult.idx of the scenario giving the stress shortfall"
    )
    stress_scenario = models.CharField(max_length=120, blank=True, default="", help_text="its scenario name")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "account_idx"], name="account_result_unique")]
        indexes = [
            models.Index(fields=["run", "margin_ratio"], name="account_result_ratio"),
            models.Index(fields=["run", "stress_shortfall_usd"], name="account_result_stress"),
            models.Index(fields=["run", "notional_usd"], name="account_result_notional"),
            # the liquidatable few of a run (impact comparisons), without reading the run's rows
            models.Index(fields=["run", "account_idx"], condition=Q(liquidatable=True), name="account_result_liq"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} account {self.account_id}"


class PositionResult(models.Model):
    """One position's base-pass result (§2, §3, §5–§7). Prices NULL = none."""

    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="position_results")
    position_id = models.BigIntegerField(help_text="SnapshotPosition id")
    account_idx = models.PositiveIntegerField()
    market = models.ForeignKey("markets.Market", on_delete=models.PROTECT, related_name="+")
    size = models.FloatField()
    notional_usd = models.FloatField()
    initial_margin_usd = models.FloatField()
    maintenance_margin_usd = models.FloatField()
    liquidatable = models.BooleanField(
        default=False,
        db_default=False,
        help_text="liquidatable now: its cross account (§5), or itself when isolated (§6)",
    )
    liquidation_price = models.FloatField(null=True, blank=True)
    bankruptcy_price = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "position_id"], name="position_result_unique")]
        indexes = [models.Index(fields=["run", "account_idx"], name="position_result_account")]

    def __str__(self) -> str:
        return f"run {self.run_id} position {self.position_id}"


class ScenarioResult(models.Model):
    """One scenario's venue-wide outcome (§8, §9). ``coverage_ratio`` NULL = infinity."""

    run = models.ForeignKey(HealthRun, on_delete=models.CASCADE, related_name="scenario_results")
    idx = models.PositiveIntegerField()
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16)
    start_date = models.CharField(max_length=10, blank=True)
    end_date = models.CharField(max_length=10, blank=True)
    in_tail = models.BooleanField(default=False)
    liquidatable_accounts = models.BigIntegerField()
    bankrupt_accounts = models.BigIntegerField()
    shortfall_usd = models.FloatField()
    penalties_usd = models.FloatField()
    insurance_fund_after_usd = models.FloatField()
    adl_usd = models.FloatField()
    coverage_ratio = models.FloatField(null=True, blank=True)
    top2_shortfall_usd = models.FloatField(default=0.0, help_text="sum of the two largest account shortfalls")
    shock = models.FloatField(null=True, blank=True, help_text="uniform scenarios: the relative price shock (fraction)")
    family = models.CharField(max_length=16, default="gap", help_text="gap, trend, path_1d, path_3d")
    steps = models.PositiveIntegerField(default=1)
    step_minutes = models.PositiveIntegerField(default=1440)
    interpolated_share = models.FloatField(default=0.0, help_text="share of interpolated (step, asset) prices")
    worst_step = models.PositiveIntegerField(default=0, help_text="1-based step with the most shortfall (0: none)")

    class Meta:
        ordering = ["run", "idx"]
        constraints = [models.UniqueConstraint(fields=["run", "idx"], name="scenario_result_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} scenario {self.name}"
