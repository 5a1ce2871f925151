"""Every Dash page layout (and the impact page's body), for each role, shows numbers by the
presentation rule: no raw float, no unseparated long integer, no scientific notation, and
every table column of numbers is right-aligned (issue #16 item 10; tests/raw_numbers.py)."""

import pytest

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from riskgov.health.models import AccountResult
from tests.dashboards.conftest import page_module, walk
from tests.raw_numbers import dash_raw_numbers, raw_numbers

pytestmark = pytest.mark.django_db


def numeric_columns(table):
    """Columns whose cells are numbers or formatted numbers ($, %, ×, separators)."""
    import re

    number = re.compile(r"^[−+\-]?[$]?[\d,]+(\.\d+)?\s?(%|×|[kMB]|USD| h| d| min)?$|^[∞—]$")
    cols = []
    for c in getattr(table, "columns", None) or []:
        values = [r.get(c["id"]) for r in getattr(table, "data", None) or [] if r.get(c["id"]) not in (None, "")]
        if values and all(isinstance(v, (int, float)) or number.match(str(v)) for v in values):
            cols.append(c["id"])
    return cols


def right_aligned(table):
    conditional = getattr(table, "style_cell_conditional", None) or []
    return {
        s["if"]["column_id"] for s in conditional if s.get("textAlign") == "right" and "column_id" in s.get("if", {})
    }


@pytest.mark.parametrize("role", [VIEWER, ANALYST, COMMITTEE, ADMIN])
def test_no_dash_page_shows_a_raw_number(render, render_callback, users, health_run, impact_proposal, role):
    user = users[role]
    acc = AccountResult.objects.filter(run=health_run).order_by("account_idx").first()
    layouts = {
        "/": render("/", user),
        "/overview": render("/overview", user),
        "/accounts": render("/accounts", user),
        "/account": render("/account", user, run=str(health_run.pk), idx=str(acc.account_idx)),
        "/stress": render("/stress", user),
        "/impact": render("/impact", user, proposal=str(impact_proposal.pk)),
        "/impact body": render_callback(page_module("/impact").show_proposal, user, impact_proposal.pk),
        "/model-health": render("/model-health", user),
        "/model-validation": render("/model-validation", user),
        "/parameters": render("/parameters", user, market="BTC-PERP"),
    }
    found = {path: raw[:5] for path, layout in layouts.items() if (raw := dash_raw_numbers(layout))}
    assert found == {}, f"raw numbers shown: {found}"
    versions = page_module("/parameters").show_market("BTC-PERP")[3]
    assert [v for row in versions for v in raw_numbers(" ".join(map(str, row.values())))] == []
    unaligned = {}
    for path, layout in layouts.items():
        for node in walk(layout):
            if type(node).__name__ == "DataTable":
                missing = set(numeric_columns(node)) - right_aligned(node)
                if missing:
                    unaligned[f"{path} {node.id}"] = sorted(missing)
    assert unaligned == {}, f"numeric columns not right-aligned: {unaligned}"
