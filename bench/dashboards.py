"""Dashboard and API read times, and first paint in headless Chromium, with a large run stored.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/riskgov_bench_dash \\
        python bench/dashboards.py [--accounts 1000000] [--positions 3000000] [--markets 50] \\
            [--repeat 5] [--keep | --reuse | --run ID] [--no-browser | --browser-only] [--no-trace] \\
            [--pages overview,stress] [--compare /tmp/before]

Stores one published run of the given size directly (account and position rows by
``INSERT … SELECT generate_series`` with random values, 3,200 scenario rows, and the
run-time distributions computed by ``engine.distributions`` from arrays of the same size;
``--keep`` keeps it, ``--reuse`` measures the run kept last time instead of storing one),
then, ``--repeat`` times each, median printed:

* **server side**: every Dash page's layout (and the liquidation-map callback) rendered in
  process as a user would get it, beside the naive way of drawing the Accounts page (every
  account's margin ratio and every position of a market pulled into Python) for the ratio;
* **API**: each read a dashboard or a user makes under ``/api/v1/``, through a live server
  (werkzeug's threaded server in a subprocess, the real WSGI app: Django + /dash/);
* **browser**: each Dash page in Debian's headless Chromium (Playwright, ``executable_path``),
  cold (fresh context, empty cache) and warm (same context, after one load): first
  contentful paint, "drawn" (the last DOM change once every graph has its SVG and no
  callback is in flight), and where the time goes — HTML, the Dash/Plotly scripts fetched
  (resource timing), the scripts run until the renderer asks for ``_dash-layout``, the
  layout and ``_dash-dependencies`` fetches, the ``_dash-update-component`` round trips
  (count, total, span) and the drawing after the last one.

Nothing is asserted; tests/dashboards and tests/e2e check correctness.

Measured on the shared 2-core machine, 3 Dec 2026 (``--accounts 1000000 --keep``: stored in
3 min 14 s at load 7; then ``--reuse --repeat 5`` at load 4.7 → 5.6): page layouts 2–143 ms
(Stress 143); API reads 20–157 ms (riskiest accounts 157); in Chromium, first contentful
paint 224–408 ms cold, 84–156 ms warm; drawn 1,335–2,669 ms cold, 217–1,262 ms warm; no
callback round trip on load; 0.74–0.9 MiB of gzipped scripts on a cold load. Before (20,000
accounts, load 12–14): layouts up to 1,055 ms, the results API 1,895 ms, drawn 1.8–12.7 s
cold and 0.7–5.2 s warm with 1–3 round trips and the 4.8 MB Plotly bundle. README "Scale
figures" has the table.

Unless ``--no-trace``, one more cold load per page is
recorded with Chrome's tracing and broken down (:func:`trace_breakdown`); ``--compare DIR``
serves another checkout beside this one, cold loads interleaved. 4 Dec 2026, 100,000
accounts, ``--reuse --repeat 5 --compare`` (the commit before the load changes of
``dashboards.app``), load 6.7 → 8.9: drawn cold 1,053–1,951 ms before, 432–2,019 ms now —
the pages without graphs (no plotly.js now) 0.43–0.65 s, the five with graphs 1.4–2.0 s
(unchanged beyond the noise); scripts 754–916 KiB before, 243–890 KiB now. With plotly.js
reduced to the traces riskgov draws (``dashboards/plotlyjs``, 363 KiB gzipped instead of the
cartesian bundle's 484), ``--compare`` against e908704, 100,000 accounts, two runs, load 2.9–7.3:
the five pages with graphs drawn cold in 1.36–1.87 s instead of 1.68–2.31 s (12–25 % sooner),
first contentful paint ≤ 0.44 s on every page (README "Cold loads").
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent

#: the Dash pages the browser opens (name, path); ``{idx}`` is an account of the run
BROWSER_PAGES = [
    ("Dashboards (index)", "/dash/"),
    ("Overview", "/dash/overview"),
    ("Accounts", "/dash/accounts"),
    ("Account detail", "/dash/account?idx={idx}"),
    ("Stress and coverage", "/dash/stress"),
    ("Proposal impact", "/dash/impact"),
    ("Parameters", "/dash/parameters"),
    ("Model health", "/dash/model-health"),
    ("Model validation", "/dash/model-validation"),
]


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def store_run(args):
    """Store one published run of ``args.accounts`` accounts (see the module docstring);
    returns the run and its markets."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from riskgov.engine.distributions import chunk_distributions
    from riskgov.health.models import HealthRun, RunKind, RunStatus, ScenarioResult
    from riskgov.markets.models import Asset, Market
    from riskgov.snapshots.models import Snapshot

    n, p, m = args.accounts, args.positions, args.markets
    steps = tqdm(total=6, desc="storing a run", unit="step")
    rng = np.random.default_rng(7)
    markets = []
    for i in range(m):
        asset, _ = Asset.objects.get_or_create(symbol=f"B{i:02d}")
        markets.append(Market.objects.get_or_create(symbol=f"B{i:02d}-PERP", defaults={"base_asset": asset})[0])
    symbols = [mk.symbol for mk in markets]
    mark = rng.uniform(0.1, 60_000, m)
    pos_market = rng.integers(0, m, p)
    size = rng.normal(0, 1, p)
    notional = np.abs(size) * 20_000
    liq = mark[pos_market] * (1 - np.sign(size) * rng.uniform(0.005, 0.8, p))
    ratio = np.where(rng.random(n) < 0.001, np.inf, rng.gamma(2.0, 0.15, n))
    dist = chunk_distributions(
        margin_ratio=ratio,
        position_liquidatable=(ratio >= 1)[rng.integers(0, n, p)],
        position_market=pos_market,
        size=size,
        notional=notional,
        initial_margin=notional * 0.02,
        maintenance_margin=notional * 0.01,
        liquidation_price=liq,
        mark_price=mark,
        market_symbols=symbols,
    )
    steps.update()
    now = timezone.now()
    snap = Snapshot.objects.create(
        venue="bench", taken_at=now, insurance_fund_usd=10_000_000, sha256="0" * 64, n_accounts=n, n_positions=p
    )
    run = HealthRun.objects.create(
        snapshot=snap, kind=RunKind.MANUAL, status=RunStatus.RUNNING, label="bench/dashboards.py"
    )
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO health_accountresult (run_id, account_idx, account_id, equity_usd, initial_margin_usd,"
            " maintenance_margin_usd, margin_ratio, liquidatable, bankrupt, shortfall_usd, notional_usd,"
            " stress_shortfall_usd, stress_scenario_idx, stress_scenario)"
            " SELECT %s, g, 'acct-' || g, 1000 + random() * 1e5, random() * 2e4, random() * 1e4,"
            " CASE WHEN random() < 0.001 THEN NULL ELSE random() * 1.2 END, random() < 0.01, random() < 0.001, 0,"
            " random() * 6e4, CASE WHEN random() < 0.05 THEN random() * 1e5 ELSE 0 END, g %% 10,"
            " 'uniform ' || (-50 + g %% 10) || '%%'"
            " FROM generate_series(0, %s) g",
            [run.pk, n - 1],
        )
        steps.update()
        cur.execute(
            "INSERT INTO health_positionresult (run_id, position_id, account_idx, market_id, size, notional_usd,"
            " initial_margin_usd, maintenance_margin_usd, liquidation_price, bankruptcy_price)"
            " SELECT %s, g, g %% %s, (ARRAY[" + ",".join(str(mk.pk) for mk in markets) + "])[1 + g %% %s],"
            " random() - 0.5, random() * 4e4, random() * 800, random() * 400, random() * 60000, random() * 60000"
            " FROM generate_series(0, %s) g",
            [run.pk, n, m, p - 1],
        )
        steps.update()
        cur.execute("ANALYZE health_accountresult; ANALYZE health_positionresult")
    steps.update()
    ScenarioResult.objects.bulk_create(
        ScenarioResult(
            run=run,
            idx=i,
            name=f"uniform {-50 + i:+d}%" if i < 10 else f"history 1d {i}",
            kind="uniform" if i < 10 else "historical",
            in_tail=i >= 10,
            liquidatable_accounts=int(rng.integers(0, 5000)),
            bankrupt_accounts=int(rng.integers(0, 500)),
            shortfall_usd=float(rng.gamma(1.0, 1e6)),
            penalties_usd=0.0,
            insurance_fund_after_usd=0.0,
            adl_usd=0.0,
            coverage_ratio=None,
        )
        for i in range(args.scenarios)
    )
    steps.update()
    with transaction.atomic():
        run.status, run.progress, run.published_at, run.finished_at = RunStatus.SUCCEEDED, 100, now, now
        run.n_accounts, run.n_positions = n, p
        run.equity_usd = run.initial_margin_usd = run.maintenance_margin_usd = 1e9
        run.liquidatable_accounts = run.bankrupt_accounts = 0
        run.shortfall_usd = run.var_usd = run.es_usd = run.cover2_usd = 1e6
        run.insurance_fund_usd, run.tail_alpha, run.tail_scenarios = 1e7, 0.99, args.scenarios - 10
        run.tail = {"k": 32, "worst_scenario": "uniform -50%"}
        run.distributions = dist
        run.save()
    steps.update()
    steps.close()

    return run, markets


def stored_run(run_id: int | None = None):
    """The newest run this bench stored and kept (``--keep``), or the published run
    ``run_id`` (``--run``: e.g. the 10M-account run of ``bench/pipeline.py``), and its markets."""
    from riskgov.health.models import HealthRun
    from riskgov.markets.models import Market

    published = HealthRun.objects.filter(published_at__isnull=False)
    if run_id is not None:
        run = published.filter(pk=run_id).first()
        if run is None:
            raise SystemExit(f"no published run {run_id} in this database")
    else:
        run = published.filter(label="bench/dashboards.py").order_by("-id").first()
    if run is None:
        raise SystemExit("no stored bench run: run once with --keep first")
    symbols = list(run.distributions["markets"])
    markets = sorted(Market.objects.filter(symbol__in=symbols), key=lambda mk: symbols.index(mk.symbol))
    return run, markets


def remove_run(run) -> None:
    """Delete a stored bench run, its rows and its snapshot."""
    from django.db import connection, transaction

    from riskgov.health.models import HealthRun, ScenarioResult
    from riskgov.snapshots.models import Snapshot

    with transaction.atomic():
        ScenarioResult.objects.filter(run=run).delete()
        with connection.cursor() as cur:
            cur.execute("DELETE FROM health_positionresult WHERE run_id = %s", [run.pk])
            cur.execute("DELETE FROM health_accountresult WHERE run_id = %s", [run.pk])
        HealthRun.objects.filter(pk=run.pk).delete()
        Snapshot.objects.filter(pk=run.snapshot_id).delete()


# ----------------------------------------------------------------------------------------
# the live server, the API reads and the browser


def _serve(port: int) -> None:
    """Serve the real WSGI app (Django + /dash/, static files from the finders) on ``port``
    with werkzeug's threaded server (the e2e tests' server), until killed."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from werkzeug.serving import make_server

    from riskgov.config.wsgi import django_application, mount

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", port, mount(StaticFilesHandler(django_application)), threaded=True)
    print("serving", flush=True)
    server.serve_forever()


@contextmanager
def _live_server(repo: Path = REPO):
    """A server subprocess on a free port (its own process: the browser's timings do not
    share the bench's GIL), running the code of checkout ``repo`` (its own
    ``bench/dashboards.py --serve``); yields the base URL."""
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a thread per request: persistent connections (CONN_MAX_AGE) would pile up, one per thread
    env = {**os.environ, "LOG_LEVEL": "ERROR", "CONN_MAX_AGE": "0"}
    script = str(Path(repo) / "bench" / "dashboards.py")
    proc = subprocess.Popen([sys.executable, script, "--serve", str(port)], env=env, stdout=subprocess.PIPE, cwd=repo)
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "serving"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=2)  # noqa: S310 — localhost
                break
            except OSError as exc:
                if getattr(exc, "code", None):  # any HTTP answer: the server is up
                    break
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _session_cookie(user) -> str:
    """A Django session for ``user`` (what logging in stores), as the cookie value."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def api_times(base: str, cookie: str, run_id: int, repeat: int) -> dict[str, tuple[float, int]]:
    """Median wall time (s) and body size (bytes) of each API read a dashboard or a user
    makes, through the live server; the full export is timed to its first 64 KiB."""
    import requests
    from django.conf import settings

    http = requests.Session()
    http.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    r = f"/api/v1/health-runs/{run_id}"
    reads = {
        "health-runs (list, latest first)": "/api/v1/health-runs/",
        "health-runs/{id}": f"{r}/",
        "health-runs/{id}/progress": f"{r}/progress/",
        "health-runs/{id}/results (totals, scenarios, tail)": f"{r}/results/",
        "health-runs/{id}/accounts (riskiest, page 1)": f"{r}/accounts/",
        "health-runs/{id}/export?accounts=0": f"{r}/export/?accounts=0",
        "health-runs/{id}/export (first 64 KiB)": f"{r}/export/",
        "markets": "/api/v1/markets/",
        "proposals": "/api/v1/proposals/",
        "alerts": "/api/v1/alerts/",
        "reports": "/api/v1/reports/",
    }
    out = {}
    for name, url in reads.items():
        times, size = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            with http.get(base + url, stream=True, timeout=120) as resp:
                if resp.status_code != 200:
                    raise RuntimeError(f"GET {url}: HTTP {resp.status_code}")
                if "first 64 KiB" in name:
                    size = len(next(resp.iter_content(65536)))
                else:
                    size = len(resp.content)
            times.append(time.perf_counter() - t0)
        out[name] = (statistics.median(times), size)
    return out


#: installed before any page script: the time of the last DOM change (graphs drawn = the page
#: stops changing), and each ``Plotly.react``/``newPlot`` call (graph id, start, synchronous ms:
#: the drawing of one figure) — ``dcc.Graph`` calls the global ``Plotly`` the bundle defines
_INIT_JS = """
window.__rg = {last: 0, plots: []};
new MutationObserver(() => { window.__rg.last = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
(() => {
  let plotly;
  const wrap = (P, name) => {
    const f = P[name];
    if (typeof f !== 'function' || f.__rg) return;  // a bundle may set window.Plotly twice
    P[name] = function (gd, ...rest) {
      const t = performance.now();
      try { return f.call(this, gd, ...rest); }
      finally { window.__rg.plots.push({id: (gd && (gd.id || (gd.closest && gd.closest('[id]') || {}).id)) || '', start: t, ms: performance.now() - t}); }
    };
    P[name].__rg = true;
  };
  Object.defineProperty(window, 'Plotly', {configurable: true, enumerable: true,
    get() { return plotly; },
    set(v) { plotly = v; if (v) { wrap(v, 'react'); wrap(v, 'newPlot'); } }});
})();
"""
#: true once the page content is there and every graph is drawn
_DRAWN_JS = """() => {
  const c = document.getElementById('_pages_content');
  if (!c || !c.children.length) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  return [...document.querySelectorAll('.dash-graph')].every(g => g.querySelector('.main-svg'));
}"""
#: the page's timeline (ms from navigation start)
_TIMELINE_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const res = performance.getEntriesByType('resource');
  const pick = s => res.filter(e => e.name.includes(s)).map(e => ({
    name: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize, body: e.decodedBodySize}));
  return {html: nav.responseEnd, fp: paint['first-paint'], fcp: paint['first-contentful-paint'],
    ready: window.__rg.last, suites: pick('_dash-component-suites'), layout: pick('_dash-layout'),
    deps: pick('_dash-dependencies'), callbacks: pick('_dash-update-component'),
    plots: window.__rg.plots, scripts: res.filter(e => e.initiatorType === 'script' || e.initiatorType === 'link')
      .map(e => ({name: e.name, start: e.startTime, end: e.responseEnd, transfer: e.transferSize,
                  body: e.decodedBodySize}))};
}"""


def _load(page, url: str, inflight: list[int]) -> dict:
    """Open ``url`` and wait until it is drawn and quiet (no DOM change and no callback in
    flight for 0.5 s); the page's timeline."""
    page.goto(url, wait_until="load")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not inflight[0] and page.evaluate(_DRAWN_JS):
            quiet = page.evaluate("performance.now() - window.__rg.last")
            if quiet > 500:
                break
        page.wait_for_timeout(50)
    else:
        raise RuntimeError(f"{url}: not drawn within 60 s")
    return page.evaluate(_TIMELINE_JS)


def _breakdown(t: dict) -> dict[str, float]:
    """The timeline as phases (ms): HTML, scripts fetched, scripts run until the layout
    request, layout + dependencies, callbacks (count, total, span), drawing after them."""
    suites_end = max((s["end"] for s in t["suites"]), default=t["html"])
    first = t["layout"] + t["deps"]
    layout_start = min((x["start"] for x in first), default=suites_end)
    layout_end = max((x["end"] for x in first), default=layout_start)
    cbs = t["callbacks"]
    cb_end = max((x["end"] for x in cbs), default=layout_end)
    plotly = next((s for s in t["suites"] if "plotly" in s["name"].rsplit("/", 1)[-1]), None)
    return {
        "fcp": t["fcp"] or 0.0,
        "ready": t["ready"],
        "html": t["html"],
        "scripts_fetched": suites_end,
        "scripts_run": max(layout_start - suites_end, 0.0),
        "layout_deps": layout_end - layout_start,
        "callbacks": float(len(cbs)),
        "callbacks_ms": sum(x["end"] - x["start"] for x in cbs),
        "callbacks_span": (cb_end - min(x["start"] for x in cbs)) if cbs else 0.0,
        "after_callbacks": max(t["ready"] - cb_end, 0.0),
        "js_kb": sum(s["transfer"] for s in t["suites"]) / 1024,
        "js_body_kb": sum(s["body"] for s in t["suites"]) / 1024,
        "plots": float(len(t["plots"])),
        "plots_ms": sum(x["ms"] for x in t["plots"]),
        "plots_span": (max(x["start"] + x["ms"] for x in t["plots"]) - min(x["start"] for x in t["plots"]))
        if t["plots"]
        else 0.0,
        "plotly_ms": (plotly["end"] - plotly["start"]) if plotly else 0.0,
    }


#: the trace categories of one traced load: the timeline, script compile/evaluate and the
#: sampling CPU profiler (what DevTools' Performance panel records)
TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "v8.execute",
    "disabled-by-default-v8.cpu_profiler",
    "blink.user_timing",
    "loading",
]

#: script URL → group of the breakdown (first match); other page-world frames are "DOM/native"
_GROUPS = [
    ("plotly", ("plotly",)),
    ("dash_table", ("/dash_table/",)),
    ("dcc", ("/dcc/",)),
    ("html", ("/html/",)),
    ("renderer", ("dash-renderer",)),
    ("react", ("/deps/react", "/deps/prop-types")),
    ("polyfill", ("/deps/polyfill",)),
]
CPU_GROUPS = [g for g, _ in _GROUPS] + ["page", "DOM/native", "(program)"]


def _group(url: str, page_url: str) -> str:
    for name, needles in _GROUPS:
        if any(n in url for n in needles):
            return name
    return "page" if url.startswith(page_url.split("?")[0]) else "DOM/native"


def trace_breakdown(trace: bytes, page_url: str, drawn_ms: float) -> dict:
    """Where the main thread's time goes in one traced load, from navigation start to
    ``drawn_ms`` (Chrome trace JSON as ``Browser.start_tracing`` returns it; times in ms):

    * ``cpu``: the sampling profiler's self time per script group (:data:`CPU_GROUPS`:
      plotly.js, dash_table, dcc, html components, dash-renderer, React, the polyfill, the
      page's inline scripts, DOM/native calls, and "(program)": the main thread's native work —
      V8's parser and compiler, style, layout, paint — and the garbage collector);
    * ``eval``: ``EvaluateScript`` (compile + top-level run) per group, and ``compile`` of all;
    * ``style_layout``, ``paint``, ``parse_html``, ``gc``: the renderer's own work;
    * ``idle``: the main thread waiting (for the network or the server);
    * ``marks``: when the static scripts were all evaluated, the async chunks (``async-*.js``)
      evaluated, and the first and last figure drawn (from the init script's ``Plotly``
      wrapper, not the trace)."""
    import json
    from collections import Counter

    data = json.loads(trace)
    events = data["traceEvents"] if isinstance(data, dict) else data
    navs = [
        e
        for e in events
        if e.get("name") == "navigationStart"
        and e.get("args", {}).get("data", {}).get("documentLoaderURL", "").startswith("http")
    ]
    if not navs:
        return {}
    t0, pid = navs[-1]["ts"], navs[-1]["pid"]
    end = t0 + drawn_ms * 1000
    main_tid = next(
        (
            e["tid"]
            for e in events
            if e.get("ph") == "M"
            and e.get("pid") == pid
            and e.get("name") == "thread_name"
            and e["args"].get("name") == "CrRendererMain"
        ),
        None,
    )
    cpu: Counter = Counter()
    nodes: dict = {}
    t = None
    for e in sorted(
        (e for e in events if e.get("pid") == pid and e.get("name") in ("Profile", "ProfileChunk")),
        key=lambda e: e["ts"],
    ):
        d = e["args"]["data"]
        if e["name"] == "Profile":
            t = d.get("startTime", e["ts"])
            continue
        prof = d.get("cpuProfile", {})
        for n in prof.get("nodes", []):
            nodes[n["id"]] = n["callFrame"]
        for sample, delta in zip(prof.get("samples", []), d.get("timeDeltas", []), strict=False):
            if t is None:
                t = e["ts"]
            t += delta
            if not t0 <= t <= end:
                continue
            frame = nodes.get(sample, {})
            fn, url = frame.get("functionName", ""), frame.get("url", "")
            if fn == "(idle)":
                key = "idle"
            elif fn in ("(program)", "(garbage collector)", "(root)"):
                key = "(program)"  # not JavaScript: V8, the parser, style, layout, paint
            else:
                key = _group(url, page_url)
            cpu[key] += delta / 1000
    work: Counter = Counter()
    evals: Counter = Counter()
    marks = {"scripts_evaluated": 0.0, "chunks_evaluated": 0.0}
    for e in events:
        if e.get("pid") != pid or e.get("tid") != main_tid or e.get("ph") != "X":
            continue
        start, dur = e["ts"], e.get("dur", 0)
        if start < t0 or start > end:
            continue
        name = e["name"]
        if name in ("Layout", "UpdateLayoutTree"):
            work["style_layout"] += dur / 1000
        elif name in ("Paint", "PrePaint", "Layerize", "UpdateLayer", "CompositeLayers"):
            work["paint"] += dur / 1000
        elif name == "ParseHTML":
            work["parse_html"] += dur / 1000
        elif name in ("MinorGC", "MajorGC"):
            work["gc"] += dur / 1000
        elif name == "v8.compile":
            work["compile"] += dur / 1000
        elif name == "EvaluateScript":
            url = e.get("args", {}).get("data", {}).get("url", "")
            evals[_group(url, page_url)] += dur / 1000
            at = (start + dur - t0) / 1000
            if "_dash-component-suites" in url:
                key = "chunks_evaluated" if url.rsplit("/", 1)[-1].startswith("async-") else "scripts_evaluated"
                marks[key] = max(marks[key], at)
    return {"cpu": dict(cpu), "eval": dict(evals), "idle": cpu.get("idle", 0.0), **dict(work), "marks": marks}


def _warm_server(base: str, cookie: str, paths: list[tuple[str, str]]) -> None:
    """Open each page once as the browser would (its HTML, its layout, every script it
    loads), so the cold loads measure the browser, not the server process's first
    compression of each bundle or the first layout it builds of a page (a deployment's
    server has served each page before)."""
    import re

    import requests
    from django.conf import settings

    http = requests.Session()
    http.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    seen: set[str] = set()
    for _name, path in paths:
        html = http.get(base + path, timeout=60).text
        http.get(base + "/dash/_dash-layout", headers={"Referer": base + path}, timeout=60)
        for src in re.findall(r'(?:src|href)="(/dash/_dash-component-suites/[^"]+)"', html):
            if src not in seen:
                seen.add(src)
                http.get(base + src, headers={"Accept-Encoding": "gzip, br"}, timeout=60)


def browser_times(
    bases: dict[str, str], cookie: str, pages: list[tuple[str, str]], repeat: int, *, trace: bool = True
) -> dict:
    """Per server (``bases``: label → base URL, e.g. this tree's and ``--compare``'s, their
    cold loads interleaved so that both see the same machine load) and page, the median breakdown (:func:`_breakdown`) of ``repeat`` loads in headless
    Chromium, cold (a fresh browser context: empty cache) and warm (one context, after a
    first load); with ``trace``, one more cold load recorded with the Chrome tracing
    (:data:`TRACE_CATEGORIES`) and its :func:`trace_breakdown` (not in the medians: tracing
    slows the page), with the figures it drew (``plots``: graph id and ms each)."""
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import LAUNCH_ARGS

    host = next(iter(bases.values())).split("//", 1)[1].split(":")[0]
    cookies = [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "domain": host, "path": "/"}]
    out: dict = {}

    def context(browser, inflight):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.add_cookies(cookies)
        ctx.add_init_script(_INIT_JS)
        page = ctx.new_page()

        def track(delta):
            def on(req):
                if "_dash-update-component" in req.url:
                    inflight[0] += delta

            return on

        page.on("request", track(1))
        page.on("requestfinished", track(-1))
        page.on("requestfailed", track(-1))
        return ctx, page

    def median(samples: list[dict]) -> dict:
        return {k: statistics.median(s[k] for s in samples) for k in samples[0]}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        try:
            for name, path in tqdm(pages, desc="browser", unit="page", leave=False):
                inflight = [0]
                cold: dict[str, list] = {label: [] for label in bases}
                for _ in range(repeat):  # the servers' cold loads interleaved: the same load on each
                    for label, base in bases.items():
                        ctx, page = context(browser, inflight)
                        cold[label].append(_breakdown(_load(page, base + path, inflight)))
                        ctx.close()
                for label, base in bases.items():
                    traced = {}
                    if trace:
                        ctx, page = context(browser, inflight)
                        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
                        try:
                            t = _load(page, base + path, inflight)
                        finally:
                            raw = browser.stop_tracing()
                        traced = {
                            **trace_breakdown(raw, base + path, t["ready"]),
                            "drawn": t["ready"],
                            "plots": t["plots"],
                        }
                        traced["marks"]["layout_received"] = max((x["end"] for x in t["layout"]), default=0.0)
                        ctx.close()
                    ctx, page = context(browser, inflight)
                    _load(page, base + path, inflight)
                    warm = [_breakdown(_load(page, base + path, inflight)) for _ in range(repeat)]
                    ctx.close()
                    out.setdefault(label, {})[name] = {
                        "cold": median(cold[label]),
                        "warm": median(warm),
                        "trace": traced,
                    }
        finally:
            browser.close()
    return out


def server_side_pages(run, markets, user, repeat: int, naive: bool = True) -> dict[str, float]:
    """Median seconds to render each page's layout in process (no HTTP), and the naive
    Accounts page."""
    import dash
    import flask
    import numpy as np

    from riskgov.config.wsgi import application  # noqa: F401 — creates the Dash app
    from riskgov.health.models import AccountResult, PositionResult

    app = dash.get_app()
    pages = {pg["path"]: pg for pg in dash.page_registry.values()}
    mods = {path: sys.modules[pg["module"]] for path, pg in pages.items()}

    def render(path: str, **query):
        def go():
            with app.server.test_request_context(f"/dash{path}"):
                flask.g.riskgov_user = user
                return pages[path]["layout"](run=str(run.pk), **query)

        return go

    def naive_accounts_page():
        """What the Accounts page would cost without run-time distributions."""
        ratios = np.array(
            [
                np.inf if r is None else r
                for r in AccountResult.objects.filter(run=run).values_list("margin_ratio", flat=True)
            ]
        )
        np.histogram(ratios[np.isfinite(ratios)], bins=20)
        rows = PositionResult.objects.filter(run=run, market=markets[0]).values_list(
            "liquidation_price", "notional_usd"
        )
        arr = np.array(list(rows), dtype=float)
        np.histogram(arr[:, 0], bins=100, weights=arr[:, 1])

    cases = [
        ("Overview", render("/overview")),
        ("Accounts", render("/accounts")),
        ("Accounts: liquidation map callback", lambda: mods["/accounts"].show_map(markets[0].symbol, run.pk)),
        ("Account detail", render("/account", idx=str(run.n_accounts // 2))),
        ("Stress and coverage", render("/stress")),
        ("Proposal impact", render("/impact")),
        ("Parameters", render("/parameters")),
        ("Model health", render("/model-health")),
        ("Model validation", render("/model-validation")),
    ]
    results = {}
    for name, fn in tqdm(cases, desc="pages", unit="page", leave=False):
        results[name], _ = _timed(fn, repeat)
    if naive:  # a real run keeps only the queried few rows in PostgreSQL: nothing to compare
        results["naive Accounts page (reads every row)"], _ = _timed(naive_accounts_page, 1)
    return results


def _print_browser(browser: dict) -> None:
    cols = [
        ("FCP", "fcp"),
        ("drawn", "ready"),
        ("HTML", "html"),
        ("JS got", "scripts_fetched"),
        ("JS run", "scripts_run"),
        ("layout", "layout_deps"),
        ("cb n", "callbacks"),
        ("cb ms", "callbacks_ms"),
        ("cb span", "callbacks_span"),
        ("draw", "after_callbacks"),
        ("figs", "plots"),
        ("figs ms", "plots_ms"),
        ("JS KiB", "js_kb"),
        ("JS body", "js_body_kb"),
    ]
    print(f"\n{'browser (ms from navigation start, median)':44s}" + "".join(f"{h:>8s}" for h, _ in cols))
    for name, res in browser.items():
        for cache in ("cold", "warm"):
            row = res[cache]
            print(f"{name + ' · ' + cache:44s}" + "".join(f"{row[k]:8.0f}" for _, k in cols))
    traced = {name: res["trace"] for name, res in browser.items() if res.get("trace")}
    if not traced:
        return
    print(
        "\nwhere a cold load's time goes (one traced load per page, ms of the renderer's main thread from"
        " navigation start to drawn;\nCPU = sampled self time of the JavaScript of each group; eval = compile +"
        " top-level run of its scripts;\nmarks = ms from navigation start)"
    )
    head = ["drawn", "idle", *CPU_GROUPS, "style+lay", "paint", "GC"]
    print(f"{'':24s}" + "".join(f"{h[:9]:>10s}" for h in head))
    for name, tr in traced.items():
        cpu = tr.get("cpu", {})
        vals = [tr["drawn"], tr.get("idle", 0.0), *(cpu.get(g, 0.0) for g in CPU_GROUPS)]
        vals += [tr.get("style_layout", 0.0), tr.get("paint", 0.0), tr.get("gc", 0.0)]
        print(f"{name[:24]:24s}" + "".join(f"{v:10.0f}" for v in vals))
    print(
        f"\n{'':24s}"
        + "".join(
            f"{h:>12s}"
            for h in (
                "eval plotly",
                "eval other",
                "compile",
                "scripts run",
                "layout got",
                "chunks run",
                "figures",
                "figs ms",
                "slowest fig",
            )
        )
    )
    for name, tr in traced.items():
        ev, m, plots = tr.get("eval", {}), tr.get("marks", {}), tr.get("plots", [])
        slow = max(plots, key=lambda x: x["ms"]) if plots else None
        vals = [ev.get("plotly", 0.0), sum(v for k, v in ev.items() if k != "plotly"), tr.get("compile", 0.0)]
        vals += [m.get("scripts_evaluated", 0.0), m.get("layout_received", 0.0), m.get("chunks_evaluated", 0.0)]
        vals += [len(plots), sum(x["ms"] for x in plots)]
        print(
            f"{name[:24]:24s}"
            + "".join(f"{v:12.0f}" for v in vals)
            + (f"  {slow['id'][:22]} {slow['ms']:.0f}" if slow else "")
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=3_000_000)
    ap.add_argument("--markets", type=int, default=50)
    ap.add_argument("--scenarios", type=int, default=3_200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the stored run (for --reuse)")
    ap.add_argument("--reuse", action="store_true", help="measure the run kept by an earlier --keep")
    ap.add_argument(
        "--run",
        type=int,
        metavar="ID",
        help="measure this published run instead (e.g. one bench/pipeline.py ran: a real run, its rows in"
        " Parquet files and the queried few in PostgreSQL); never removed",
    )
    ap.add_argument("--no-browser", action="store_true", help="server side and API only")
    ap.add_argument("--browser-only", action="store_true", help="only the browser times")
    ap.add_argument("--no-trace", action="store_true", help="no traced load (the breakdown of where the time goes)")
    ap.add_argument(
        "--compare",
        metavar="DIR",
        help="another checkout (e.g. `git worktree add /tmp/before <commit>`): its server's browser times beside this"
        " tree's, cold loads interleaved",
    )
    ap.add_argument("--pages", help="comma-separated substrings of the browser pages' names to open (default: all)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the live server subprocess
    args = ap.parse_args()
    if sum(bool(x) for x in (args.keep, args.reuse, args.run is not None)) > 1:
        ap.error("--keep, --reuse and --run exclude each other")

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskgov_bench_dash")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.serve:
        _serve(args.serve)
        return 0
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop on this thread
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from riskgov.health.models import ScenarioResult

    t0 = time.perf_counter()
    run, markets = stored_run(args.run) if (args.reuse or args.run is not None) else store_run(args)
    stored_s = time.perf_counter() - t0
    user = get_user_model().objects.filter(username="bench-dash").first() or get_user_model().objects.create_superuser(
        "bench-dash", "bench@example.com", "x"
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    how = "reused" if (args.reuse or args.run is not None) else f"stored in {stored_s:.1f} s"
    print(
        f"\n{run.n_accounts:,} accounts, {run.n_positions:,} positions, {len(markets)} markets,"
        f" {ScenarioResult.objects.filter(run=run).count():,} scenario rows (run #{run.pk}, {how}); load average {load}"
    )
    pages = {} if args.browser_only else server_side_pages(run, markets, user, args.repeat, naive=args.run is None)
    cookie = _session_cookie(user)
    wanted = [w.strip().lower() for w in args.pages.split(",")] if args.pages else None
    with _live_server() as base, _live_server(Path(args.compare).resolve()) if args.compare else nullcontext() as other:
        api = {} if args.browser_only else api_times(base, cookie, run.pk, args.repeat)
        bases = {"before (--compare)": other, "this tree": base} if other else {"this tree": base}
        paths = [
            (name, path.format(idx=run.n_accounts // 2))
            for name, path in BROWSER_PAGES
            if wanted is None or any(w in name.lower() for w in wanted)
        ]
        if not args.no_browser:
            for b in bases.values():
                _warm_server(b, cookie, paths)
        browser = {} if args.no_browser else browser_times(bases, cookie, paths, args.repeat, trace=not args.no_trace)

    if pages:
        print(f"\n{'server side (in process), median':60s} {'ms':>8s}")
        for name, sec in pages.items():
            print(f"{name:60s} {sec * 1000:8.0f}")
        naive = pages.get("naive Accounts page (reads every row)")
        if naive:
            print(f"{'  → precomputed Accounts page is faster by':60s} {naive / pages['Accounts']:7.0f}×")
    if api:
        print(f"\n{'API through the live server, median':60s} {'ms':>8s} {'KiB':>8s}")
        for name, (sec, size) in api.items():
            print(f"{name:60s} {sec * 1000:8.0f} {size / 1024:8.0f}")
    for label, res in browser.items():
        print(f"\n── {label} ──")
        _print_browser(res)
    if len(browser) == 2:
        (la, a), (lb, b) = browser.items()
        print(
            f"\n{'cold loads, median ms (same run, interleaved)':44s}{'drawn':>10s}{'drawn':>10s}{'JS KiB':>10s}{'JS KiB':>10s}"
        )
        print(f"{'':44s}{la[:9]:>10s}{lb[:9]:>10s}{la[:9]:>10s}{lb[:9]:>10s}")
        for name in a:
            ca, cb = a[name]["cold"], b[name]["cold"]
            print(f"{name:44s}{ca['ready']:10.0f}{cb['ready']:10.0f}{ca['js_kb']:10.0f}{cb['js_kb']:10.0f}")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    print(f"\nload average at the end {load}")
    if not (args.keep or args.reuse or args.run is not None):
        remove_run(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
