"""Binary COPY both ways: every value arrives bit for bit (floats included), NULLs where
NaN/None on the way in; the fixed-width reader refuses NULLs and mistyped columns."""

import numpy as np
import pytest
from django.db import connection

from riskgov.core.pgcopy import binary_copy_payload, copy_binary, copy_out_fixed

pytestmark = pytest.mark.django_db


@pytest.fixture
def table():
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE pgcopy_probe (a bigint, b integer, c double precision, d boolean,"
            " e varchar(40), f double precision)"
        )
    yield "pgcopy_probe"


def test_round_trip_is_exact(table):
    rng = np.random.default_rng(1)
    n = 1000
    c = rng.normal(0, 1e6, n)
    c[:6] = [np.inf, -np.inf, -0.0, 5e-324, np.finfo(float).max, 0.1 + 0.2]
    c[10] = np.nan  # → NULL
    e = np.array([f"acct-{i}" if i % 7 else ("Zürich-€" if i % 2 else None) for i in range(n)], dtype=object)
    cols = {
        "a": np.arange(n, dtype=np.int64) * 10**12,
        "b": rng.integers(-(2**31), 2**31 - 1, n),
        "c": c,
        "d": rng.random(n) < 0.5,
        "e": e,
        "f": np.full(n, np.nan),
    }
    with connection.cursor() as cur:
        copy_binary(cur, table, cols, n)
        cur.execute(f"SELECT a, b, c, d, e, f FROM {table} ORDER BY a")
        rows = cur.fetchall()
    assert len(rows) == n
    assert [r[0] for r in rows] == cols["a"].tolist()
    assert [r[1] for r in rows] == cols["b"].tolist()
    got = np.array([np.nan if r[2] is None else r[2] for r in rows])
    assert got.tobytes() == c.tobytes()  # bit for bit, -0.0 and the subnormal included
    assert rows[10][2] is None
    assert [r[3] for r in rows] == cols["d"].tolist()
    assert [r[4] for r in rows] == e.tolist()
    assert all(r[5] is None for r in rows)


def test_bad_columns_are_refused(table):
    with connection.cursor() as cur, pytest.raises(ValueError, match="no column"):
        copy_binary(cur, table, {"zz": np.zeros(2)}, 2)
    with pytest.raises(ValueError, match="not supported"):
        binary_copy_payload([(np.zeros(2), "numeric")], 2)
    with pytest.raises(ValueError, match="expected"):
        binary_copy_payload([(np.zeros(3), "bigint")], 2)


def test_empty_payload_is_header_and_trailer():
    assert binary_copy_payload([(np.zeros(0), "bigint")], 0) == b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + b"\xff\xff"


_FIXED_COLS = [("a", "bigint"), ("b", "integer"), ("c", "double precision"), ("d", "boolean")]


def test_fixed_width_read_back_is_exact(table):
    """What ``copy_binary`` wrote comes back from ``copy_out_fixed`` bit for bit, in SQL order."""
    rng = np.random.default_rng(2)
    n = 5000
    c = rng.normal(0, 1e9, n)
    c[:6] = [np.inf, -np.inf, -0.0, 5e-324, np.finfo(float).max, 0.1 + 0.2]
    cols = {
        "a": rng.permutation(n).astype(np.int64) * 10**12,
        "b": rng.integers(-(2**31), 2**31 - 1, n),
        "c": c,
        "d": rng.random(n) < 0.5,
    }
    with connection.cursor() as cur:
        copy_binary(cur, table, {**cols, "e": np.array(["x"] * n, dtype=object), "f": np.zeros(n)}, n)
        got = copy_out_fixed(cur, f"SELECT a, b, c, d FROM {table} ORDER BY a", _FIXED_COLS)
    order = np.argsort(cols["a"])
    for name, _ in _FIXED_COLS:
        assert got[name].dtype.isnative
        assert got[name].tobytes() == np.ascontiguousarray(cols[name][order]).astype(got[name].dtype).tobytes()
    with connection.cursor() as cur:
        empty = copy_out_fixed(cur, f"SELECT a, b, c, d FROM {table} WHERE false", _FIXED_COLS)
    assert all(v.size == 0 for v in empty.values())


def test_fixed_width_read_refuses_null_and_mistyped_columns(table):
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {table} (a, b, c, d) VALUES (1, 2, NULL, true), (2, 3, 4.5, false)")
        with pytest.raises(ValueError, match="NULL or a mistyped column|row layout"):
            copy_out_fixed(cur, f"SELECT a, b, c, d FROM {table}", _FIXED_COLS)
        with pytest.raises(ValueError, match="NULL or a mistyped column|row layout"):  # b is 4 bytes, not 8
            copy_out_fixed(cur, f"SELECT a, b, COALESCE(c, 0), d FROM {table}", [("a", "bigint"), ("b", "bigint"),
                           ("c", "double precision"), ("d", "boolean")])  # fmt: skip
