"""The demo: everything ``manage.py demo`` does, as plain functions over the services.

It loads the product's own copy of real data (``data/``, provenance in ``data/README.md``):
the real Binance USDⓈ-M leverage brackets as the venue's active parameters (for the markets
whose base asset has price history), the Binance, Hyperliquid and dYdX tables as reference
tables, the real daily closes, and demo users for each role; then it generates a seeded
venue snapshot (labelled as generated) and runs a health run on it. Every step is
idempotent, so rerunning the demo is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from riskgov.core.services import roles_ensure
from riskgov.markets.models import DailyClose
from riskgov.markets.price_files import read_price_file
from riskgov.markets.services import prices_import
from riskgov.parameters.importing import findings_text
from riskgov.parameters.services import parameters_import_document
from riskgov.parameters.venues import hyperliquid_depth_by_base, parse_binance, parse_dydx, parse_hyperliquid

#: Demo accounts: (username, roles). Passwords are ``<username>-demo`` (printed by the demo).
DEMO_USERS = (
    ("viewer", (VIEWER,)),
    ("analyst", (ANALYST,)),
    ("member1", (COMMITTEE,)),
    ("member2", (COMMITTEE,)),
    ("member3", (COMMITTEE,)),
    ("admin", (ADMIN,)),
)


#: The demo ``admin``'s Django-admin permissions: everything on the apps an administrator
#: runs from *Admin* (alert rules, periodic tasks, users and groups), and view-only on the
#: rest of riskgov's models (parameters, proposals and the audit log change only through
#: the governance services). Not a superuser: a superuser holds every role, and the demo's
#: administrator must not count as a committee member.
DEMO_ADMIN_FULL_APPS = ("alerts", "django_celery_beat", "auth")
DEMO_ADMIN_VIEW_APPS = ("core", "markets", "parameters", "governance", "snapshots", "health", "reports")


def demo_admin_permissions():
    """The permissions of :data:`DEMO_ADMIN_FULL_APPS` and the view permissions of the rest."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    return Permission.objects.filter(
        Q(content_type__app_label__in=DEMO_ADMIN_FULL_APPS)
        | Q(content_type__app_label__in=DEMO_ADMIN_VIEW_APPS, codename__startswith="view_")
    )


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo's real data lives (the repo's ``data/`` copy by default)."""

    binance: Path
    hyperliquid: Path
    hyperliquid_snapshot: Path
    dydx: Path
    prices: tuple[Path, ...]
    #: ``prices/intraday/*.csv.gz``: hourly and 5-minute bars, imported at their own resolution
    intraday: tuple[Path, ...] = ()

    @classmethod
    def locate(cls, root: Path | None = None) -> DemoFiles:
        """Find the files under ``root`` (default ``settings.DATA_DIR``).

        Raises:
            FileNotFoundError: naming the first missing file.
        """
        root = Path(root or settings.DATA_DIR)

        def one(pattern: str) -> Path:
            found = sorted((root / "margin").glob(pattern))
            if not found:
                raise FileNotFoundError(f"{root / 'margin' / pattern}: demo data missing")
            return found[0]

        prices = tuple(sorted((root / "prices").glob("*.csv")))
        if not prices:
            raise FileNotFoundError(f"{root / 'prices'}: no price files")
        return cls(
            binance=one("binance*leverage_tiers*.json"),
            hyperliquid=one("hyperliquid*marginTables*.json"),
            hyperliquid_snapshot=one("hyperliquid_perp_meta_snapshot*.csv"),
            dydx=one("dydx*genesis*.json"),
            prices=prices,
            intraday=tuple(sorted((root / "prices" / "intraday").glob("*.csv.gz"))),
        )


@dataclass
class DemoReport:
    """What the demo loaded, for printing."""

    price_rows: int = 0
    #: intraday bars: rows in the files, rows written now (0 for a file already imported)
    bar_rows: int = 0
    bar_rows_written: int = 0
    bar_files: int = 0
    bar_resolutions: dict[str, int] = field(default_factory=dict)
    active_markets: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    users: list[tuple[str, str, tuple[str, ...], bool]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    #: underlyings with active PM parameters (the options book's, RISK_MODEL §14)
    pm_underlyings: list[str] = field(default_factory=list)


def demo_users_ensure() -> list[tuple[str, str, tuple[str, ...], bool]]:
    """Create the demo users if missing (never resets an existing user's password).

    Returns:
        ``(username, password, roles, created)`` for each demo user.
    """
    groups = {g.name: g for g in roles_ensure()}
    User = get_user_model()
    out = []
    for username, roles in DEMO_USERS:
        password = f"{username}-demo"
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
        if created:
            user.set_password(password)
            user.is_staff = ADMIN in roles
            user.save()
            user.groups.set([groups[r] for r in roles])
        if ADMIN in roles:  # also on reruns: demos set up before the admin had permissions
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            user.user_permissions.add(*demo_admin_permissions())
        out.append((username, password, roles, created))
    return out


def demo_load(files: DemoFiles, *, log: Callable[[str], None] = print, progress=None) -> DemoReport:
    """Load prices, parameters and reference tables (idempotent). See module docstring."""
    report = DemoReport()
    with transaction.atomic():
        for path in files.prices:
            frame = read_price_file(path)
            summary = prices_import(frame=frame, file_name=path.name, progress=progress)
            report.price_rows += summary.rows
            log(f"prices: {path.name}: {summary.rows} daily closes")

    with_history = set(DailyClose.objects.values_list("asset__symbol", flat=True).distinct())
    depth = hyperliquid_depth_by_base(files.hyperliquid_snapshot)

    # The venue's own parameters: Binance brackets for the markets we have history for.
    doc_all, findings_all = parse_binance(files.binance, depth_by_base=depth)
    wanted = sorted(m["symbol"] for m in doc_all["markets"] if m["base_asset"] in with_history)
    doc, findings = parse_binance(
        files.binance, symbols=wanted, depth_by_base=depth, name="Demo venue (Binance USDS-M brackets)"
    )
    summary = parameters_import_document(
        document=doc, venue="binance", file_name=files.binance.name, findings=findings_text(findings)
    )
    report.active_markets = wanted
    report.findings += [f"binance: {f}" for f in findings_text(findings) if "mismatch" in f]
    log(
        f"parameters: {len(wanted)} Binance markets with price history "
        f"({'initial active set' if summary.initial else f'{len(summary.market_versions)} new drafts'})"
    )

    for venue, (document, found) in (
        ("binance", (doc_all, findings_all)),
        ("hyperliquid", parse_hyperliquid(files.hyperliquid, snapshot=files.hyperliquid_snapshot)),
        ("dydx", parse_dydx(files.dydx)),
    ):
        parameters_import_document(
            document=document, venue=venue, reference=True, file_name=venue, findings=findings_text(found)
        )
        report.references.append(f"{venue}: {len(document['markets'])} markets")
        log(f"reference table: {venue}, {len(document['markets'])} markets, {len(found)} findings")

    report.pm_underlyings = demo_pm_parameters_ensure(log=log)
    report.users = demo_users_ensure()
    return report


#: underlyings of the demo's options book (the generator's, RISK_MODEL §14)
DEMO_PM_UNDERLYINGS = ("BTC", "ETH")


def demo_pm_parameters_ensure(*, log: Callable[[str], None] = print) -> list[str]:
    """The §14 default PM parameters (Deribit's published BTC set) as the first active version
    of BTC and ETH, unless they have PM parameters already (idempotent, audited by the
    service). Returns the underlyings with active PM parameters."""
    from riskgov.markets.models import Asset
    from riskgov.portfolio.selectors import active_pm_versions
    from riskgov.portfolio.services import pm_defaults_seed

    seeded = []
    for asset in Asset.objects.filter(symbol__in=DEMO_PM_UNDERLYINGS).order_by("symbol"):
        if pm_defaults_seed(underlying=asset) is not None:
            seeded.append(asset.symbol)
    active = [v.underlying.symbol for v in active_pm_versions(symbols=DEMO_PM_UNDERLYINGS)]
    log(
        f"PM parameters: {', '.join(active) or 'none'} active ({', '.join(seeded) or 'none'} seeded now with the §14 defaults)"
    )
    return active


def demo_intraday_load(files: DemoFiles, *, report: DemoReport, log: Callable[[str], None] = print) -> None:
    """Import ``prices/intraday/*.csv.gz`` at their own resolution (``markets.price_bars_import``).

    A file whose bars are all stored already (same series, span and count) is not written
    again, so a rerun costs only reading the files.
    """
    from riskgov.markets.models import PriceBar
    from riskgov.markets.price_files import iter_price_bars
    from riskgov.markets.services import price_bars_import

    for path in files.intraday:
        bars = list(iter_price_bars(path))
        if not bars:
            continue
        b0 = bars[0]
        report.bar_files += 1
        report.bar_rows += len(bars)
        report.bar_resolutions[b0.resolution] = report.bar_resolutions.get(b0.resolution, 0) + len(bars)
        stored = PriceBar.objects.filter(
            asset__symbol=b0.asset,
            source=b0.source,
            resolution=b0.resolution,
            timestamp__gte=min(b.timestamp for b in bars),
            timestamp__lte=max(b.timestamp for b in bars),
        ).count()
        if stored == len(bars):
            continue
        with transaction.atomic():
            summary = price_bars_import(bars=iter(bars), file_name=path.name)
        report.bar_rows_written += summary.rows
    log(
        f"prices: {report.bar_files} intraday files, {report.bar_rows:,} bars "
        f"({', '.join(f'{n:,} × {r}' for r, n in sorted(report.bar_resolutions.items()))}; "
        f"{report.bar_rows_written:,} written now)"
    )


def demo_alerts_and_schedules_ensure() -> tuple[int, int]:
    """The default alert rules (``alerts.services.alert_rules_ensure_defaults``) and the beat
    entries (``core.services.schedules_ensure``), idempotent; rules and entries edited in
    the admin are kept. Returns ``(rules, periodic tasks)``."""
    from riskgov.alerts.services import alert_rules_ensure_defaults
    from riskgov.core.services import schedules_ensure

    return len(alert_rules_ensure_defaults()), len(schedules_ensure())


#: The demo snapshot's generator seed (fixed: reruns find the same snapshot).
DEMO_SEED = 7
#: share of the demo's accounts in portfolio margin mode with an options book on BTC and ETH
#: (``generate_snapshot(pm_share=…)``; generated data, RISK_MODEL §14)
DEMO_PM_SHARE = 0.03


def demo_snapshot_ensure(
    *,
    accounts: int = 20_000,
    seed: int = DEMO_SEED,
    pm_share: float = DEMO_PM_SHARE,
    log: Callable[[str], None] = print,
    progress=None,
):
    """Generate and import the demo venue snapshot unless one of this seed, size and PM share exists.

    The snapshot is marked ``generated`` (synthetic accounts on the real parameters and
    prices) and found again by its ``source`` text, so rerunning the demo is safe.
    ``pm_share`` of the accounts are in portfolio margin mode with a generated options book
    (``snapshots.generator_options``); their underlyings need active PM parameters
    (``demo_pm_parameters_ensure``).

    Returns:
        ``(snapshot, created)``.
    """
    import tempfile

    from riskgov.snapshots.generator import generate_snapshot
    from riskgov.snapshots.models import Snapshot
    from riskgov.snapshots.services import snapshot_import

    source = f"demo generator seed={seed} accounts={accounts}" + (f" pm_share={pm_share:g}" if pm_share else "")
    existing = Snapshot.objects.filter(generated=True, source=source).order_by("-id").first()
    if existing is not None:
        log(
            f"snapshot: reusing generated snapshot {existing.pk} ({accounts} accounts, seed {seed}, PM share {pm_share:g})"
        )
        return existing, False
    with tempfile.TemporaryDirectory(prefix="riskgov-demo-") as tmp:
        path = generate_snapshot(Path(tmp) / "snapshot", accounts=accounts, seed=seed, pm_share=pm_share)
        snapshot = snapshot_import(path=path, generated=True, source=source, progress=progress)
    log(
        f"snapshot: generated and imported {snapshot.pk} ({snapshot.n_accounts} accounts, {snapshot.n_positions} positions)"
    )
    return snapshot, True


def demo_health_run(*, snapshot):
    """Run a full health run of the snapshot now (in-process) and return it published.

    The demo runs the task graph eagerly whatever the broker setting, so that it can print
    the figures; production runs go through the workers (``run_health`` or the API).
    """
    from riskgov.health.models import HealthRun, RunKind
    from riskgov.health.services import health_run_create
    from riskgov.health.tasks import health_run

    app = health_run.app  # the project's app, bound in riskgov.config
    run = health_run_create(snapshot=snapshot, kind=RunKind.MANUAL, label="demo", enqueue=False)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        health_run.delay(run.pk)
    finally:
        app.conf.task_always_eager = eager
    return HealthRun.objects.get(pk=run.pk)
