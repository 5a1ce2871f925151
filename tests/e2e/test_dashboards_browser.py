"""Every Dash page in headless Chromium, as each role: charts render, figures equal the stored
run, a viewer is offered no analyst action (and is refused one if it goes there anyway), and
each page is saved as a screenshot under artifacts/screenshots/."""

from __future__ import annotations

import pytest

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from riskgov.health.models import AccountResult, ScenarioResult
from tests.e2e.conftest import log_in, screenshot
from tests.factories import UserFactory
from tests.health.test_portfolio_accounts import pm_venue, run_eager  # noqa: F401 — the PM venue fixture

pytestmark = pytest.mark.e2e

ROLES = {VIEWER: "vic", ANALYST: "ana", COMMITTEE: "carl", ADMIN: "adele"}


def usd(x: float) -> str:
    """Whole dollars, the sign before the dollar (U+2212 for a negative amount)."""
    return f"{chr(0x2212) if round(x) < 0 else ''}${abs(x):,.0f}"


def plotted(page, chart_id: str, trace: int = 0, axis: str = "y") -> list:
    """The data plotly holds for a chart's trace (what the browser draws)."""
    page.wait_for_selector(f"#{chart_id} .main-svg")
    js = f"() => {{ const d = document.querySelector('#{chart_id} .js-plotly-plot'); return d && d.data && d.data[{trace}] && d.data[{trace}].{axis}; }}"
    return page.wait_for_function(js).json_value()


@pytest.mark.parametrize("role", [VIEWER, ANALYST, COMMITTEE, ADMIN])
def test_every_dashboard_page_as_each_role(live_app, browser_page, health_run, impact_proposal, role):
    page, run, base = browser_page, health_run, live_app
    UserFactory(username=ROLES[role], roles=[role])
    log_in(page, base, ROLES[role], next_url="/dash/overview")

    # Overview: key figures and history equal the stored run
    page.wait_for_selector("#kpi-var")
    shown = {
        "#kpi-accounts": f"{run.n_accounts:,}",
        "#kpi-equity": usd(run.equity_usd),
        "#kpi-im": usd(run.initial_margin_usd),
        "#kpi-mm": usd(run.maintenance_margin_usd),
        "#kpi-liquidatable": f"{run.liquidatable_accounts:,}",
        "#kpi-bankrupt": f"{run.bankrupt_accounts:,}",
        "#kpi-shortfall": usd(run.shortfall_usd),
        "#kpi-fund": usd(run.insurance_fund_usd),
        "#kpi-var": usd(run.var_usd),
        "#kpi-es": usd(run.es_usd),
        "#kpi-cover2": usd(run.cover2_usd),
        "#kpi-coverage-es": "∞" if run.coverage_at_es is None else f"{run.coverage_at_es * 100:,.1f} %",
    }
    assert {sel: page.text_content(sel) for sel in shown} == shown
    assert plotted(page, "overview-margin") == [run.equity_usd]
    can_propose = role == ANALYST  # creating a proposal is the analyst's (DESIGN roles)
    assert page.locator("#propose-link").count() == (1 if can_propose else 0)
    screenshot(page, f"dash-overview-{role}")

    # Accounts: histogram, liquidation map (a callback), riskiest table → account detail
    page.goto(f"{base}/dash/accounts")
    assert sum(plotted(page, "accounts-ratio")) == run.n_accounts
    market = page.evaluate("document.querySelector('#accounts-map .js-plotly-plot').layout.title.text").split(":")[0]
    stored = run.distributions["liquidation_map"]["markets"][market]
    assert plotted(page, "accounts-map", 0) == stored["long"]
    screenshot(page, f"dash-accounts-{role}")
    first = page.text_content("#accounts-riskiest a >> nth=0")
    page.click("#accounts-riskiest a >> nth=0")
    page.wait_for_selector("#acct-equity")
    acc = AccountResult.objects.get(run=run, account_id=first)
    assert page.text_content("#acct-equity") == usd(acc.equity_usd)
    assert page.text_content("#acct-mm") == usd(acc.maintenance_margin_usd)
    assert page.text_content("#acct-state") == ("bankrupt" if acc.bankrupt else "liquidatable")
    screenshot(page, f"dash-account-{role}")

    # Stress and coverage
    page.goto(f"{base}/dash/stress")
    standard = list(ScenarioResult.objects.filter(run=run, family="gap").exclude(kind="historical").order_by("idx"))
    assert plotted(page, "stress-scenarios") == [s.shortfall_usd for s in standard]
    assert page.text_content("#stress-es") == usd(run.es_usd)
    gap_tail = next(t for t in run.tails if t["family"] == "gap")  # the gap distribution, apart
    assert len(plotted(page, "stress-tail", axis="x")) == gap_tail["scenarios"]
    assert len(plotted(page, "stress-tail-path-1d", axis="x")) == run.tail_scenarios  # headline: 1-day paths
    plotted(page, "stress-cascade")
    screenshot(page, f"dash-stress-{role}")

    # Proposal impact (a callback on the chosen proposal)
    page.goto(f"{base}/dash/impact")
    impact = impact_proposal.impact
    page.wait_for_selector("#impact-newly")
    assert page.text_content("#impact-newly") == f"{impact['newly_liquidatable_accounts']:,}"
    assert plotted(page, "impact-scenarios", 1) == [s["proposed_shortfall_usd"] for s in impact["scenarios"]]
    plotted(page, "impact-curve-BTC-PERP")
    assert page.locator("#impact-vote-link").count() == (1 if role == COMMITTEE else 0)
    screenshot(page, f"dash-impact-{role}")

    # Parameters and model health
    page.goto(f"{base}/dash/parameters")
    plotted(page, "parameters-mmf")
    assert page.locator("#propose-link").count() == (1 if can_propose else 0)
    screenshot(page, f"dash-parameters-{role}")
    page.goto(f"{base}/dash/model-health")
    assert plotted(page, "model-recommendation") == [r["current_mmf"] * 100 for r in run.recommendations]
    screenshot(page, f"dash-model-health-{role}")

    # the analyst-only action itself: offered to analysts, refused to a viewer who goes there
    page.goto(f"{base}/proposals/new/")
    if can_propose:
        page.wait_for_selector("text=New proposal")
    else:
        page.wait_for_selector("text=Creating a proposal needs the analyst role.")


def test_chart_data_downloads_as_csv(live_app, browser_page, health_run):
    page, run = browser_page, health_run
    UserFactory(username="vic", roles=[VIEWER])
    log_in(page, live_app, "vic", next_url="/dash/stress")
    page.wait_for_selector("#stress-scenarios .main-svg")
    with page.expect_download() as download:
        page.locator(".chart:has(#stress-scenarios) button.csv").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("idx,name,kind,") and lines[0].endswith(",worst_step")
    standard = list(ScenarioResult.objects.filter(run=run, family="gap").exclude(kind="historical").order_by("idx"))
    assert len(lines) == 1 + len(standard)
    assert lines[1].split(",")[1] == standard[0].name


def test_pages_load_fast_paths_without_errors_or_policy_violations(live_app, browser_page, health_run):
    """The load shortcuts (dashboards.app): the preloaded layout is the one the renderer uses
    (one request), the regenerator runtime stands in for the polyfill, and a page without
    graphs leaves plotly.js out — following a link from it to a page with graphs still draws
    them, with riskgov's plotly.js bundle."""
    page, base = browser_page, live_app
    UserFactory(username="vic", roles=[VIEWER])
    problems, requests = [], []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # HTTP errors are the responses' (Chromium's favicon request, which Playwright does not
    # show, 404s on the login page)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('CSP violation ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    log_in(page, base, "vic", next_url="/dash/")
    page.wait_for_selector("#_pages_content h1")
    page.goto(f"{base}/dash/")  # drawn once: now known to have no graph
    page.wait_for_selector("#_pages_content h1")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.Plotly") == "undefined"
    assert page.evaluate("typeof window.regeneratorRuntime") == "object"
    layouts = [u for u in requests if u.endswith("/dash/_dash-layout")]
    assert len(layouts) == 2  # one per load: the preload, taken by the renderer
    requests.clear()
    page.click("#dash-pages >> text=Stress and coverage")  # Dash's router, no page load
    assert len(plotted(page, "stress-scenarios", axis="x")) > 0
    assert page.evaluate("typeof window.Plotly") == "object"
    plotly = [u for u in requests if "plotly" in u]
    assert any("/dashboards.plotlyjs/plotly-riskgov.v" in u for u in plotly), plotly
    assert not [u for u in requests if "polyfill" in u]
    assert problems == []


def test_every_graph_of_every_page_is_drawn_by_the_bundled_trace_types(
    live_app, browser_page, health_run, impact_proposal
):
    """plotly.js draws a trace of a type its bundle lacks as an invisible scatter, without an
    error: on every Dash page, each trace plotly.js holds must keep the type of its figure
    (``dashboards.plotlyjs``: only the trace types riskgov draws are bundled)."""
    import dash

    from dashboards import plotlyjs

    page, base = browser_page, live_app
    UserFactory(username="vic", roles=[VIEWER])
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(  # HTTP errors are the responses' (the login page's favicon 404s, see above)
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    log_in(page, base, "vic", next_url="/dash/")
    page.wait_for_selector("#_pages_content h1")
    account = AccountResult.objects.filter(run=health_run).order_by("account_idx").first()
    paths = sorted(p["path"] for p in dash.page_registry.values())
    types: dict[str, list[str]] = {}
    for path in paths:
        page.goto(f"{base}/dash{path}" + (f"?idx={account.account_idx}" if path == "/account" else ""))
        page.wait_for_selector("#_pages_content h1")
        page.wait_for_load_state("networkidle")
        graphs = page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')].map(g => ({"
            " id: g.parentElement.id, svg: !!g.querySelector('.main-svg'),"
            " asked: (g.data || []).map(t => t.type || 'scatter'),"
            " drawn: (g._fullData || []).map(t => t.type) }))"
        )
        for g in graphs:
            assert g["svg"] and g["asked"] == g["drawn"], (path, g)
            types.setdefault(path, []).extend(g["asked"])
    shown = {t for ts in types.values() for t in ts}
    assert shown <= set(plotlyjs.TRACES) and {"scatter", "bar", "histogram"} <= shown, types
    assert {"/overview", "/accounts", "/stress", "/impact", "/parameters", "/model-health"} <= set(types), types
    assert problems == []


def test_portfolio_heatmap_is_drawn_as_a_heatmap(
    live_app,
    browser_page,
    pm_venue,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    """The one page drawing a heatmap (the riskiest PM accounts' losses per scenario): the
    bundle's heatmap trace draws it, with its colorbar, beside the worst-scenario bars."""
    run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    page, base = browser_page, live_app
    UserFactory(username="vic", roles=[VIEWER])
    log_in(page, base, "vic", next_url="/dash/portfolio?underlying=BTC")
    page.wait_for_selector("#portfolio-heatmap .main-svg")
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(g => [g.parentElement.id,"
        " g._fullData.map(t => t.type + (t.visible === true ? '' : ' hidden')).join(),"
        " g.querySelectorAll('.hm image, .colorbar').length])"
    )
    heat = next(d for d in drawn if d[0] == "portfolio-heatmap")
    assert heat[1] == "heatmap" and heat[2] >= 2, drawn  # the heatmap's image and its colorbar
    screenshot(page, "dash-portfolio-heatmap")
