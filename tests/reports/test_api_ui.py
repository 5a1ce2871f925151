"""Reports and alerts in the API and the committee UI: who may read, download and send now."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from riskgov.alerts.models import AlertFiring, AlertKind, AlertRule
from riskgov.core.roles import ADMIN, VIEWER
from riskgov.reports.models import Report
from riskgov.reports.services import report_build
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(db):
    make_run(age_hours=1)
    return report_build()


@pytest.mark.pango
def test_viewer_lists_and_downloads_reports_in_the_api(api, users, report):
    api.force_authenticate(users[VIEWER])
    rows = api.get("/api/v1/reports/").json()["results"]
    assert [r["id"] for r in rows] == [report.pk] and rows[0]["status"] == "complete"
    assert rows[0]["pdf_url"].endswith(f"/api/v1/reports/{report.pk}/pdf/")
    detail = api.get(f"/api/v1/reports/{report.pk}/").json()
    assert detail["figures"]["run"]["id"] == report.run_id
    pdf = api.get(f"/api/v1/reports/{report.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content)[:5] == b"%PDF-"
    html = api.get(f"/api/v1/reports/{report.pk}/html/")
    assert html.status_code == 200 and b"riskgov health report" in b"".join(html.streaming_content)


def test_only_admins_send_now_in_the_api(api, users, report, django_capture_on_commit_callbacks):
    api.force_authenticate(users[VIEWER])
    r = api.post("/api/v1/reports/send-now/", {"roles": ["committee"]}, format="json")
    assert r.status_code == 403 and "administrators" in r.json()["message"]
    assert Report.objects.count() == 1
    api.force_authenticate(users[ADMIN])
    assert api.post("/api/v1/reports/send-now/", {"roles": ["nope"]}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/reports/send-now/", {"roles": ["committee", "viewer"]}, format="json")
    assert r.status_code == 202  # eager in tests: built and sent on commit
    new = Report.objects.latest("created_at")
    assert new.kind == "manual" and new.created_by_name == "ad"
    assert sorted(m.to[0] for m in mail.outbox) == ["cm@example.org", "v@example.org"]


def test_no_role_no_reports(api, users, report):
    api.force_authenticate(users["none"])
    assert api.get("/api/v1/reports/").status_code == 403
    assert api.get(f"/api/v1/reports/{report.pk}/pdf/").status_code == 403
    assert api.get("/api/v1/alerts/").status_code == 403


def test_alerts_api_lists_firings_and_rules(api, users, django_capture_on_commit_callbacks):
    from riskgov.alerts.services import alerts_evaluate

    AlertRule.objects.create(name="cov", kind=AlertKind.COVERAGE_AT_ES, threshold=Decimal(1))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(run=make_run(coverage_at_es=0.5))
    api.force_authenticate(users[VIEWER])
    rows = api.get("/api/v1/alerts/?active=1").json()["results"]
    assert len(rows) == 1 and rows[0]["kind"] == "coverage_at_es_below" and rows[0]["active"]
    assert Decimal(rows[0]["value"]) == Decimal("0.5") and Decimal(rows[0]["threshold"]) == 1
    rules = api.get("/api/v1/alert-rules/").json()["results"]
    assert rules[0]["name"] == "cov"
    assert api.post("/api/v1/alert-rules/", {"name": "x"}, format="json").status_code == 405


@pytest.mark.pango
def test_reports_page_for_viewer_and_admin(client, users, report, django_capture_on_commit_callbacks):
    client.force_login(users[VIEWER])
    page = client.get(reverse("reports")).content.decode()
    assert f"/reports/{report.pk}/pdf/" in page and 'id="send-now"' not in page
    assert client.get(reverse("report-pdf", args=[report.pk])).status_code == 200
    html = client.get(reverse("report-html", args=[report.pk]))
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    r = client.post(reverse("report-send-now"), {"roles": ["committee"]})
    assert r.status_code == 403 and Report.objects.count() == 1
    client.force_login(users[ADMIN])
    page = client.get(reverse("reports")).content.decode()
    assert 'id="send-now"' in page and "csrfmiddlewaretoken" in page
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(reverse("report-send-now"), {"roles": ["committee"]})
    assert r.status_code == 302 and Report.objects.count() == 2
    assert [m.to for m in mail.outbox] == [["cm@example.org"]]


def test_send_now_needs_csrf(users, report):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(users[ADMIN])
    assert c.post(reverse("report-send-now"), {"roles": ["committee"]}).status_code == 403
    assert Report.objects.count() == 1


def test_alerts_page_and_nav(client, users, django_capture_on_commit_callbacks):
    from riskgov.alerts.services import alerts_evaluate

    AlertRule.objects.create(name="coverage rule", kind=AlertKind.COVERAGE_AT_ES, threshold=Decimal(1))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(run=make_run(coverage_at_es=0.5))
    client.force_login(users[VIEWER])
    page = client.get(reverse("alerts")).content.decode()
    assert "coverage rule" in page and "coverage at ES 50.0 % (ES 99 %, " in page  # named by its family (§10)
    assert f'href="{reverse("reports")}"' in page and f'href="{reverse("alerts")}"' in page
    assert AlertFiring.objects.count() == 1
    client.force_login(users["none"])
    assert client.get(reverse("alerts")).status_code == 403
