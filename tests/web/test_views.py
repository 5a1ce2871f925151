"""Committee UI: login required, a role required, pages render real data."""

import pytest
from django.urls import reverse

from riskgov.core.roles import VIEWER
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
