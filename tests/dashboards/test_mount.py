"""The Dash app under /dash/: Django session required, role required, pages serve real data."""

import json
from pathlib import Path

import pytest
from werkzeug.test import Client

from riskgov.core.roles import VIEWER
from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi(monkeypatch):
    # Like Django's own test client: keep the test transaction's connection open.
    import dashboards.auth

    monkeypatch.setattr(dashboards.auth, "close_old_connections", lambda: None)
    from riskgov.config.wsgi import application

    return Client(application)


def login(wsgi, client, user):
    """Log in through Django and hand the session cookie to the WSGI test client."""
    client.force_login(user)
    wsgi.set_cookie("sessionid", client.cookies["sessionid"].value)


def test_anonymous_is_sent_to_login(wsgi):
    r = wsgi.get("/dash/parameters")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login/?next=/dash/parameters")
    assert wsgi.post("/dash/_dash-update-component", json={}).status_code == 401
    assert wsgi.get("/dash/_dash-layout").status_code == 401
    assert wsgi.get("/dash/_dash-dependencies").status_code == 401


def test_library_scripts_need_no_session(wsgi, client, users):
    import re

    login(wsgi, client, users[VIEWER])
    page = wsgi.get("/dash/parameters").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    wsgi.delete_cookie("sessionid")
    assert scripts and all(wsgi.get(u).status_code == 200 for u in scripts)  # public code, no data


def test_user_without_role_is_refused(wsgi, client, users):
    login(wsgi, client, users["none"])
    r = wsgi.get("/dash/parameters")
    assert r.status_code == 403


def test_parameters_page_and_callback_compare_with_references(wsgi, client, users):
    parameters_import_document(document=parameter_document())
    parameters_import_document(document=parameter_document(), venue="binance", reference=True)
    login(wsgi, client, users[VIEWER])
    page = wsgi.get("/dash/parameters")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Log out" in html and "/static/riskgov/riskgov.css" in html  # shared navigation
    body = {
        "output": "..parameters-mmf.figure...parameters-leverage.figure...parameters-mm.figure...parameters-versions.data..",
        "outputs": [
            {"id": "parameters-mmf", "property": "figure"},
            {"id": "parameters-leverage", "property": "figure"},
            {"id": "parameters-mm", "property": "figure"},
            {"id": "parameters-versions", "property": "data"},
        ],
        "inputs": [{"id": "parameters-market", "property": "value", "value": "BTC-PERP"}],
        "changedPropIds": ["parameters-market.value"],
        "state": [],
    }
    r = wsgi.post("/dash/_dash-update-component", json=body)
    assert r.status_code == 200
    resp = json.loads(r.get_data(as_text=True))["response"]
    mmf = resp["parameters-mmf"]["figure"]
    assert [t["name"] for t in mmf["data"]] == ["binance (reference)", "riskgov v1 (active)"]
    assert mmf["data"][1]["y"] == [0.4, 0.5, 0.5]  # MMF in percent per bracket (0.004, 0.005)
    assert mmf["layout"]["xaxis"]["title"]["text"].startswith("position notional (USD")
    leverage = resp["parameters-leverage"]["figure"]["data"][1]["y"]
    assert leverage == [100.0, 50.0, 50.0]  # 1/IMF
    assert resp["parameters-versions"]["data"][0]["status"] == "active"


def test_plotly_bundle_is_riskgovs_own_served_gzipped_with_a_year_of_cache(wsgi, client, users):
    import gzip
    import re

    from dashboards import plotlyjs

    login(wsgi, client, users[VIEWER])
    page = wsgi.get("/dash/parameters").get_data(as_text=True)
    # a script of the page (window.Plotly is there before any graph mounts: dcc.Graph then
    # never injects the full bundle)
    url = next(u for u in re.findall(r'<script src="([^"]+)"', page) if "plotly-riskgov" in u)
    assert url.startswith("/dash/_dash-component-suites/dashboards.plotlyjs/plotly-riskgov.v")
    assert page.index(url) < page.index("dash_renderer")  # before the renderer starts
    r = wsgi.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert "max-age=31536000" in r.headers["Cache-Control"]
    body = gzip.decompress(r.get_data())
    traces = ", ".join(plotlyjs.TRACES)
    assert body.startswith(f"/**\n* plotly.js (riskgov: {traces} - minified) v{plotlyjs.__version__}".encode())
    assert len(r.get_data()) < len(body) / 2.5
    assert wsgi.get(url, headers={"Accept-Encoding": "gzip"}).get_data() == r.get_data()  # kept, same bytes
    plain = wsgi.get(url)  # a client that does not accept gzip gets the plain file
    assert "Content-Encoding" not in plain.headers and plain.get_data() == body
    assert "Content-Security-Policy" in r.headers  # the policy is still sent


def test_layout_holds_the_requested_page_so_the_router_is_not_called_on_load(wsgi, client, users):
    parameters_import_document(document=parameter_document())
    login(wsgi, client, users[VIEWER])
    r = wsgi.get("/dash/_dash-layout", headers={"Referer": "http://localhost/dash/parameters?market=BTC-PERP"})
    layout = json.loads(r.get_data(as_text=True))
    text = json.dumps(layout)
    assert '"pathname": "/dash/parameters"' in text and '"search": "?market=BTC-PERP"' in text
    assert "parameters-mmf" in text and '"riskgov v1 (active)"' in text  # the figure is drawn already
    bare = json.loads(wsgi.get("/dash/_dash-layout").get_data(as_text=True))  # no referrer: Dash's router draws
    assert "parameters-mmf" not in json.dumps(bare)


def test_page_preloads_its_layout_and_the_lazy_chunks_it_drew(wsgi, client, users):
    import re

    parameters_import_document(document=parameter_document())
    login(wsgi, client, users[VIEWER])
    page = wsgi.get("/dash/parameters").get_data(as_text=True)
    head = page[: page.index("</head>")]
    # the renderer's layout and callback-list requests start with the HTML, not after the scripts
    assert '<link rel="preload" href="/dash/_dash-layout" as="fetch" crossorigin>' in head
    assert '<link rel="preload" href="/dash/_dash-dependencies" as="fetch" crossorigin>' in head
    # once the page's layout has been built, its graphs', dropdowns' and tables' chunks are preloaded too
    wsgi.get("/dash/_dash-layout", headers={"Referer": "http://localhost/dash/parameters"})
    page = wsgi.get("/dash/parameters").get_data(as_text=True)
    chunks = re.findall(r'<link rel="preload" href="([^"]+)" as="script">', page[: page.index("</head>")])
    assert chunks == [
        "/dash/_dash-component-suites/dash/dcc/async-dropdown.js",
        "/dash/_dash-component-suites/dash/dcc/async-graph.js",
        "/dash/_dash-component-suites/dash/dash_table/async-table.js",
        "/dash/_dash-component-suites/dash/dash_table/async-highlight.js",
    ]
    for url in chunks:  # the URLs the libraries' loaders fetch
        r = wsgi.get(url)
        assert r.status_code == 200 and r.mimetype.endswith("javascript"), url
    index = wsgi.get("/dash/").get_data(as_text=True)  # a page without graphs preloads no chunk
    assert 'as="script"' not in index[: index.index("</head>")]


def test_polyfill_is_replaced_by_the_regenerator_runtime(wsgi, client, users):
    import re

    from dashboards import vendor

    login(wsgi, client, users[VIEWER])
    page = wsgi.get("/dash/parameters").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert not [u for u in scripts if "polyfill" in u]
    runtime = next(u for u in scripts if "/dashboards.vendor/regenerator-runtime.v" in u)
    # first: dcc's and dash_table's bundles use the global regeneratorRuntime as they load
    assert scripts[0] == runtime and len([u for u in scripts if "regenerator" in u]) == 1
    r = wsgi.get(runtime)
    assert r.status_code == 200 and "max-age=31536000" in r.headers["Cache-Control"]
    body = r.get_data(as_text=True)
    assert "regeneratorRuntime = runtime" in body
    assert body == (Path(vendor.__file__).parent / vendor.RUNTIME).read_text()


def test_a_page_without_graphs_leaves_plotly_out_and_dcc_still_gets_riskgovs_bundle(wsgi, client, users):
    import re

    parameters_import_document(document=parameter_document())
    login(wsgi, client, users[VIEWER])
    for path in ("/dash/", "/dash/parameters"):  # their layouts built once (what the browser fetches)
        wsgi.get("/dash/_dash-layout", headers={"Referer": f"http://localhost{path}"})
    with_graphs = re.findall(r'<script src="([^"]+)"', wsgi.get("/dash/parameters").get_data(as_text=True))
    bundle = next(u for u in with_graphs if "/dashboards.plotlyjs/plotly-riskgov.v" in u)
    without = re.findall(r'<script src="([^"]+)"', wsgi.get("/dash/").get_data(as_text=True))
    assert not [u for u in without if "plotly" in u]
    assert sorted(without) == sorted(u for u in with_graphs if u != bundle)  # only plotly.js is left out
    # a graph mounting on such a page (a dcc.Link followed) fetches dcc's plotly URL: riskgov's bundle
    r = wsgi.get("/dash/_dash-component-suites/plotly/package_data/plotly.min.js")
    assert r.status_code == 302 and r.headers["Location"] == bundle
