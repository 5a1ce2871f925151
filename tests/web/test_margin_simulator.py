"""The margin simulator page: roles, the example book, a posted book, errors on the row, and
active vs a PM proposal."""

import pytest

from riskgov.markets.models import Asset
from riskgov.portfolio.services import pm_defaults_seed
from tests.governance_fixtures import later

pytestmark = pytest.mark.django_db
URL = "/margin/simulator/"


def book(**over):
    data = {
        "as_of": "2026-12-03T08:00:00Z",
        "und-asset": ["BTC"],
        "und-price": ["100000"],
        "und-rate": [""],
        "col-asset": ["USDC", ""],
        "col-amount": ["20000", ""],
        "col-price": ["", ""],
        "col-haircut": ["", ""],
        "perp-market": ["BTC-PERP"],
        "perp-underlying": ["BTC"],
        "perp-size": ["1"],
        "perp-entry_price": ["95000"],
        "opt-underlying": ["BTC", "BTC"],
        "opt-expiry": ["2027-01-02T08:00:00Z", "2027-01-02T08:00:00Z"],
        "opt-strike": ["110000", "90000"],
        "opt-kind": ["call", "put"],
        "opt-size": ["-1", "1"],
        "opt-mark_iv": ["0.55", "0.6"],
        "proposal": "",
    }
    data.update(over)
    return data


@pytest.mark.parametrize("who,status", [("analyst", 200), ("m1", 200), ("admin", 200), ("viewer", 403)])
def test_roles(client, people, who, status):
    client.force_login(people[who])
    assert client.get(URL).status_code == status


def test_example_book_then_posted_book_shows_margin_and_heat_map(client, people, market):
    client.force_login(people["analyst"])
    page = client.get(URL).content.decode()
    assert 'name="opt-strike" value="110000"' in page and "Margin simulator" in page
    res = client.post(URL, book())
    html = res.content.decode()
    assert res.status_code == 200
    assert 'id="result-active"' in html and 'id="heat-active-BTC"' in html
    assert html.count('class="cell') == 27 + 8 and html.count("cell worst") == 1
    assert "Maintenance margin" in html and "$" in html and "rgba(" in html


def test_a_bad_leg_is_named_and_its_row_marked(client, people, market):
    client.force_login(people["analyst"])
    res = client.post(URL, book(**{"opt-strike": ["110000", "-5"]}))
    html = res.content.decode()
    assert res.status_code == 400
    assert "invalid request: options[1].strike: must be &gt; 0" in html
    assert html.count("row-error") == 1 + 1  # the marked row, and the style rule


def test_compare_active_with_a_pm_proposal(client, people, market, make_proposal):
    pm_defaults_seed(underlying=Asset.objects.get(symbol="BTC"))
    p = make_proposal(changes=[{"pm": "BTC", "price_range": "0.3", "buckets": 6}], effective_at=later(days=3))
    client.force_login(people["m1"])
    page = client.get(URL).content.decode()
    assert f'<option value="{p.pk}"' in page
    html = client.post(URL, book(proposal=str(p.pk))).content.decode()
    assert 'id="comparison"' in html and 'id="result-proposal"' in html
    assert html.count('class="cell') == 2 * 27 + 13 * 3 + 2 * 8 - 27  # active 27+8, proposal 39+8


def test_pm_version_page_any_role(client, people, market, make_proposal):
    v1 = pm_defaults_seed(underlying=Asset.objects.get(symbol="BTC"))
    p = make_proposal(changes=[{"pm": "BTC", "price_range": "0.2"}])
    v2 = p.changes.get().version
    client.force_login(people["viewer"])
    html = client.get(f"/margin/pm-versions/{v2.pk}/").content.decode()
    assert "PM parameters version 2" in html and "20.000 %" in html and "Changes from version 1" in html
    assert f"/margin/pm-versions/{v1.pk}/" in html and "-0.66" in html
    client.force_login(people["m1"])
    assert f"/margin/pm-versions/{v2.pk}/" in client.get(f"/proposals/{p.pk}/").content.decode()
