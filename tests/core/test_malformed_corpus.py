"""Every malformed input of issue #14 ends in a one-line error with every table unchanged."""

from __future__ import annotations

import json
import os

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from tests.core.test_input_limits import _zip_bomb
from tests.snapshots.conftest import FILES, small_params, write_snapshot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_params")]
GiB = 1 << 30
HEADER = "timestamp_utc,open,high,low,close,volume\n"


def _tables():
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "contenttypes"}


def _prices(tmp_path, name, body: bytes):
    p = tmp_path / name
    p.write_bytes(body)
    return ["import_prices", str(p)]


def _sparse(tmp_path):
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-12-31.csv"
    with p.open("wb") as fh:
        fh.truncate(2 * GiB)
    return ["import_prices", str(p)]


def _json(tmp_path, name, text, *args):
    p = tmp_path / name
    p.write_text(text)
    return ["import_parameters", str(p), *args]


def _bytes_json(tmp_path, name, body: bytes, *args):
    p = tmp_path / name
    p.write_bytes(body)
    return ["import_parameters", str(p), *args]


def _snapshot(tmp_path, files):
    return ["import_snapshot", str(write_snapshot(tmp_path / "snap", files))]


DEEP = "[" * 100_000 + "]" * 100_000
CASES = {
    "close_1e18": (
        lambda t: _prices(
            t, "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv", (HEADER + "2024-01-01T00:00:00Z,1,1,1,1e18,1\n").encode()
        ),
        "has more than 18 digits before the point",
    ),
    "close_19_digits": (
        lambda t: _prices(
            t,
            "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv",
            (HEADER + "2024-01-01T00:00:00Z,1,1,1,1000000000000000000.5,1\n").encode(),
        ),
        "NUMERIC(30,12)",
    ),
    "random_bytes": (lambda t: _prices(t, "prices.csv", os.urandom(1 << 16)), "prices.csv"),
    "nul_bytes": (lambda t: _prices(t, "prices.csv", b"\0" * 4096), "NUL"),
    "sparse_2gib": (_sparse, "RISKGOV_MAX_FILE_BYTES"),
    "deep_json_document": (lambda t: _json(t, "deep.json", "{" + DEEP + "}"), "deep.json: JSON nesting depth"),
    "deep_json_hyperliquid": (
        lambda t: _json(t, "deep.json", DEEP, "--format", "hyperliquid"),
        "RISKGOV_MAX_JSON_DEPTH",
    ),
    "deep_json_binance": (lambda t: _json(t, "deep.json", DEEP, "--format", "binance"), "RISKGOV_MAX_JSON_DEPTH"),
    "deep_json_dydx": (lambda t: _json(t, "deep.json", DEEP, "--format", "dydx"), "RISKGOV_MAX_JSON_DEPTH"),
    "hyperliquid_universe_int": (
        lambda t: _json(t, "meta.json", json.dumps({"universe": 5}), "--format", "hyperliquid"),
        "universe is int, not a list",
    ),
    "hyperliquid_not_object": (
        lambda t: _json(t, "meta.json", "[1, 2]", "--format", "hyperliquid"),
        "not a Hyperliquid meta response",
    ),
    "dydx_perpetuals_int": (
        lambda t: _json(
            t,
            "g.json",
            json.dumps({"app_state": {"perpetuals": {"perpetuals": 5, "liquidity_tiers": []}}}),
            "--format",
            "dydx",
        ),
        "not a dYdX genesis",
    ),
    "binance_not_utf8": (lambda t: _bytes_json(t, "b.json", b"\xff\xfe{}", "--format", "binance"), "b.json"),
    "snapshot_balances_missing_column": (
        lambda t: _snapshot(t, {**FILES, "balances.csv": "account_id,asset\na1,USDT\n"}),
        "balances.csv, column amount: missing column",
    ),
    "snapshot_deep_meta": (
        lambda t: ["import_snapshot", str(_deep_meta(t))],
        "snapshot.json: JSON nesting depth",
    ),
}


def _deep_meta(tmp_path):
    path = write_snapshot(tmp_path / "snap")
    (path / "snapshot.json").write_text(DEEP)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_line_and_changes_nothing(case, tmp_path):
    build, expected = CASES[case]
    argv = build(tmp_path)
    before = _tables()
    with pytest.raises(CommandError) as exc:
        call_command(*argv)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert expected in msg
    assert _tables() == before


def test_zip_bomb_snapshot_is_one_line_and_changes_nothing(tmp_path):
    bomb = _zip_bomb(tmp_path / "bomb.zip")
    before = _tables()
    with pytest.raises(CommandError) as exc:
        call_command("import_snapshot", str(bomb))
    msg = str(exc.value)
    assert "\n" not in msg and "RISKGOV_MAX_UNCOMPRESSED_BYTES" in msg and "positions.csv" in msg
    assert _tables() == before


@pytest.mark.django_db(transaction=True)
def test_import_snapshot_command_line_exits_1_after_the_message(tmp_path):
    """The real command line (not call_command): exit code 1, one line, no SIGABRT at teardown."""
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    path = write_snapshot(tmp_path / "snap", {**FILES, "balances.csv": "account_id,asset\na1,USDT\n"})
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    if connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL test database")
    manage = settings.BASE_DIR / "manage.py"
    for _ in range(4):
        proc = subprocess.run(
            [sys.executable, str(manage), "import_snapshot", str(path)], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 1, proc.stderr[-2000:]
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert lines[-1].endswith("balances.csv, column amount: missing column"), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
