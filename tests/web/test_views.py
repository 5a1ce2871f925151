"""Committee UI: login required, a role required, pages render real data."""

import pytest
from django.urls import reverse

from riskgov.core.roles import ANALYST, VIEWER
from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

pytestmark = pytest.mark.django_db


def test_pages_need_login_then_a_role(client, users):
    for name in ("home", "parameters"):
        assert client.get(reverse(name)).status_code == 302
    client.force_login(users["none"])
    assert client.get(reverse("home")).status_code == 403


def test_viewer_sees_parameters_and_version_diff(client, users):
    parameters_import_document(document=parameter_document())
    doc = parameter_document()
    doc["markets"][0]["liquidation_penalty"] = "0.003"
    draft = parameters_import_document(document=doc).market_versions[0]
    client.force_login(users[VIEWER])
    page = client.get(reverse("parameters")).content.decode()
    assert "BTC-PERP" in page and "100×" in page and "1.000 %" in page
    page = client.get(reverse("market-version", args=[draft.pk])).content.decode()
    assert "liquidation_penalty" in page and "Draft" in page
    assert client.get(reverse("home")).status_code == 200


def test_login_and_logout_pages(client, users):
    assert client.get(reverse("login")).status_code == 200
    assert client.post(reverse("login"), {"username": "v", "password": "pw"}).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_market_version_page_shows_every_market_field_and_a_propose_action(client, users):
    """Issue #16 item 13: penalty, depth, OI caps (and any other market field) and the action."""
    version = parameters_import_document(document=parameter_document()).market_versions[0]
    client.force_login(users[VIEWER])
    page = client.get(reverse("market-version", args=[version.pk])).content.decode()
    fields = page.split('id="market-fields"')[1].split("</table>")[0]
    for label in ("Liquidation penalty", "Depth (USD per 1 % move)", "OI cap, lower", "OI cap, upper", "Max position"):
        assert label.lower() in fields.lower(), label
    assert 'id="propose-change"' not in page  # a viewer cannot propose
    client.force_login(users[ANALYST])
    page = client.get(reverse("market-version", args=[version.pk])).content.decode()
    assert f'href="/proposals/new/?market={version.market.symbol}"' in page
