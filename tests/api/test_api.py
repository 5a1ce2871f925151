"""API v1: role required on every endpoint, versions with brackets, diff, schema."""

import pytest

from riskgov.core.roles import VIEWER
from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

pytestmark = pytest.mark.django_db


def test_anonymous_and_roleless_users_are_refused(api, users):
    assert api.get("/api/v1/market-versions/").status_code in (401, 403)
    api.force_authenticate(users["none"])
    r = api.get("/api/v1/market-versions/")
    assert r.status_code == 403 and set(r.json()) == {"message", "extra"}


def test_versions_and_diff(api, users):
    parameters_import_document(document=parameter_document())
    doc = parameter_document()
    doc["markets"][0]["brackets"][1]["maintenance_margin_fraction"] = "0.006"
    draft = parameters_import_document(document=doc).market_versions[0]
    api.force_authenticate(users[VIEWER])
    r = api.get("/api/v1/market-versions/", {"market": "BTC-PERP", "status": "active"})
    assert r.status_code == 200
    (active,) = r.json()["results"]
    assert active["brackets"][1]["maintenance_amount"] == "300.0000000000"
    diff = api.get(f"/api/v1/market-versions/{draft.pk}/diff/").json()
    fields = {c["field"]: c for c in diff}
    assert fields["brackets[2].maintenance_margin_fraction"]["after"] == "0.006"
    assert fields["brackets[2].maintenance_amount"]["after"] == "600"


def test_schema_is_served(api, users):
    api.force_authenticate(users[VIEWER])
    r = api.get("/api/v1/schema/")
    assert r.status_code == 200 and b"market-versions" in r.content
