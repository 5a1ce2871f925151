"""Every Django page, for each role, shows numbers by the presentation rule: no raw float, no
unseparated long integer, no scientific notation (issue #16 item 10; tests/raw_numbers.py).
The venue is the factory-made one with a published run and a proposal with a frozen impact."""

import pytest
from django.urls import reverse

from riskgov.parameters.models import MarketParameterVersion
from tests.raw_numbers import html_raw_numbers

pytestmark = pytest.mark.django_db


def pages(proposal, report):
    """Every page of the committee UI (GET), with the objects the fixtures made."""
    version = MarketParameterVersion.objects.filter(status="active").first()
    return [
        reverse("home"),
        reverse("parameters"),
        reverse("market-version", args=[version.pk]),
        reverse("proposals"),
        reverse("proposal-new") + "?market=BTC-PERP",
        reverse("emergency-new") + "?market=BTC-PERP",
        reverse("proposal-detail", args=[proposal.pk]),
        reverse("proposal-edit", args=[proposal.pk]),
        reverse("proposal-impact-status", args=[proposal.pk]),
        reverse("policy"),
        reverse("audit"),
        reverse("margin-simulator"),
        reverse("alerts"),
        reverse("reports"),
        reverse("report-html", args=[report.pk]),
    ]


@pytest.mark.parametrize("role", ["viewer", "analyst", "m1", "admin"])
def test_no_page_shows_a_raw_number(client, people, impact_proposal, role):
    from riskgov.reports.services import report_build

    report = report_build()
    client.force_login(people[role])
    found = {}
    for url in pages(impact_proposal, report):
        r = client.get(url)
        assert r.status_code in (200, 403), (url, r.status_code)
        body = b"".join(r.streaming_content) if r.streaming else r.content
        raw = html_raw_numbers(body.decode())
        if raw:
            found[url] = raw[:5]
    assert found == {}, f"raw numbers shown: {found}"
