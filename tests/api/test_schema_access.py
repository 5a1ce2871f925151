"""Issue 13.10: the OpenAPI schema and docs only for signed-in users with a role; a CSP on
Django pages and on the Dash pages that they work under."""

import pytest

from riskgov.core.roles import VIEWER

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_schema_and_docs_refuse_anonymous_and_role_less_users(client, users, url):
    assert client.get(url).status_code in (401, 403)
    client.force_login(users["none"])
    assert client.get(url).status_code == 403
    client.force_login(users[VIEWER])
    assert client.get(url).status_code == 200


def test_django_pages_send_a_content_security_policy(client, users):
    client.force_login(users[VIEWER])
    r = client.get("/")
    csp = r["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_inline_script_of_the_change_form_carries_the_nonce(client, users, market):
    from riskgov.core.roles import ANALYST

    client.force_login(users[ANALYST])
    r = client.get("/proposals/new/?market=BTC-PERP")
    nonce = r["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in r.content.decode()


def test_dash_pages_send_the_policy_with_the_hash_of_dash_inline_scripts():
    from dashboards.app import create_app, csp_header

    app = create_app()
    header = csp_header(app)
    assert "default-src 'self'" in header and "'sha256-" in header and "nonce" not in header
    assert header.count("script-src") == 1


def test_the_docs_page_has_no_inline_script_so_it_works_under_the_csp(client, users):
    import re

    client.force_login(users[VIEWER])
    page = client.get("/api/v1/docs/").content.decode()
    assert re.findall(r"<script>(.*?)</script>", page, re.S) in ([], [""]) or all(
        not s.strip() for s in re.findall(r"<script>(.*?)</script>", page, re.S)
    )
    assert client.get("/api/v1/docs/?script").status_code == 200


def test_the_policy_allows_no_third_party_origin(client, users):
    """Nothing is loaded from a CDN (Swagger UI comes from drf-spectacular-sidecar): neither
    Django's nor the Dash pages' policy names another origin."""
    import re

    from dashboards.app import create_app, csp_header

    client.force_login(users[VIEWER])
    for url in ("/", "/api/v1/docs/"):
        r = client.get(url)
        assert r.status_code == 200
        assert "jsdelivr" not in r["Content-Security-Policy"]
        assert not re.search(r"https?://", r["Content-Security-Policy"]), r["Content-Security-Policy"]
        assert "cdn.jsdelivr" not in r.content.decode()
    header = csp_header(create_app())
    assert "jsdelivr" not in header and not re.search(r"https?://", header)
