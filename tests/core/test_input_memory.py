"""Peak memory of the real commands on a zip bomb and a 2 GiB sparse file (issue #14 item 3).

Each command runs in a child process (``manage.py``, as a user runs it) on the test
database; the test asserts the one-line error, exit 1, every table unchanged and the child's
peak RSS (``ru_maxrss`` of ``os.wait4`` on that child alone, so no other child of the test
process counts): below :data:`PEAK_RSS_BOUND`, and at most :data:`ABOVE_BASELINE` above the
same command refusing a tiny file (what loading Django, numpy, pyarrow and pandas costs).
With the default limits both inputs are refused before they are read; with the size limits
raised past them (the settings are environment variables) they are read, streaming, and the
row and NUL checks refuse them within the first block: memory is bounded by the block
(16 MiB), not by the file.

Measured (development machine, 2026-12): baseline 282 MiB; zip bomb 282 MiB, read past the
size limit 327-329 MiB; 2 GiB sparse file 281 MiB, read past the size limit 283-284 MiB. Before
the bounds: 3.3 GB and 4.3 GB (issue #14).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection

from tests.snapshots.conftest import FILES, META

REPO = Path(__file__).resolve().parents[2]
GiB = 1 << 30
MiB = 1 << 20
#: Peak RSS allowed to the child process (bytes).
PEAK_RSS_BOUND = 512 * MiB
#: Peak RSS allowed above the same command refusing a tiny file (bytes).
ABOVE_BASELINE = 160 * MiB

pytestmark = pytest.mark.django_db(transaction=True)


def _tables() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "contenttypes"}


def _run(argv: list[str], tmp_path: Path, **env: str) -> tuple[int, str, int]:
    """Run ``manage.py argv`` in a child; return (exit code, stderr, peak RSS in bytes)."""
    db = connection.settings_dict
    child_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        **env,
    }
    err = tmp_path / "stderr.txt"
    with err.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), *argv],
            cwd=REPO,
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err.read_text(errors="replace"), usage.ru_maxrss * 1024


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A ~1.5 MB zip: a valid snapshot whose positions.csv is its header then 1.5 GiB of
    zeros with no line end (written streaming: the test never holds it)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    chunk = b"0" * MiB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("snapshot.json", json.dumps(META))
        for name, text in FILES.items():
            if name != "positions.csv":
                zf.writestr(name, text)
        with zf.open("positions.csv", "w", force_zip64=True) as fh:
            fh.write(FILES["positions.csv"].splitlines()[0].encode() + b"\n")
            for _ in range(int(1.5 * 1024)):
                fh.write(chunk)
    assert path.stat().st_size < 4 * MiB
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, django_db_setup) -> dict[str, int]:
    """Peak RSS of each command refusing a tiny bad file (no database access needed)."""
    d = tmp_path_factory.mktemp("baseline")
    (d / "tiny.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty archive
    (d / "prices.csv").write_bytes(b"\0")
    out = {}
    for cmd, arg in (("import_snapshot", "tiny.zip"), ("import_prices", "prices.csv")):
        code, stderr, peak = _run([cmd, str(d / arg)], d)
        assert code == 1, stderr
        out[cmd] = peak
    print(f"baseline peak RSS: {', '.join(f'{k} {v / MiB:.0f} MiB' for k, v in out.items())}")
    return out


def _bounded(peak: int, base: int, what: str) -> None:
    print(f"{what}: peak RSS {peak / MiB:.0f} MiB (baseline {base / MiB:.0f} MiB)")
    assert peak < PEAK_RSS_BOUND
    assert peak - base < ABOVE_BASELINE


@pytest.fixture
def sparse(tmp_path) -> Path:
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-12-31.csv"
    with p.open("wb") as fh:
        fh.truncate(2 * GiB)
    return p


def test_zip_bomb_is_refused_in_bounded_memory(bomb, baseline, tmp_path):
    before = _tables()
    code, stderr, peak = _run(["import_snapshot", str(bomb)], tmp_path)
    line = _one_line(stderr)
    assert code == 1, stderr
    assert line.startswith("CommandError: invalid snapshot: bomb.zip")
    assert "positions.csv: uncompressed size 1.5 GiB" in line and "RISKGOV_MAX_UNCOMPRESSED_BYTES=1.0 GiB" in line
    assert _tables() == before
    _bounded(peak, baseline["import_snapshot"], "zip bomb, default limits")


def test_zip_bomb_read_past_the_size_limit_streams_and_stops_at_the_row_limit(bomb, baseline, tmp_path):
    before = _tables()
    code, stderr, peak = _run(["import_snapshot", str(bomb)], tmp_path, RISKGOV_MAX_UNCOMPRESSED_BYTES=str(4 * GiB))
    line = _one_line(stderr)
    assert code == 1, stderr
    assert line == (
        "CommandError: invalid snapshot: positions.csv data row 1: row length exceeds the limit "
        "RISKGOV_MAX_CSV_ROW_BYTES=4.0 MiB (4194304 bytes)"
    )
    assert _tables() == before
    _bounded(peak, baseline["import_snapshot"], "zip bomb, uncompressed limit 4 GiB")


def test_sparse_2gib_price_file_is_refused_in_bounded_memory(sparse, baseline, tmp_path):
    before = _tables()
    code, stderr, peak = _run(["import_prices", str(sparse)], tmp_path)
    line = _one_line(stderr)
    assert code == 1, stderr
    assert line == (
        f"CommandError: {sparse.name}: file size 2.0 GiB (2147483648 bytes) exceeds the limit "
        "RISKGOV_MAX_FILE_BYTES=1.0 GiB (1073741824 bytes) (nothing imported)"
    )
    assert _tables() == before
    _bounded(peak, baseline["import_prices"], "2 GiB sparse price file, default limits")


def test_sparse_2gib_price_file_read_past_the_size_limit_is_refused_at_its_first_line(sparse, baseline, tmp_path):
    before = _tables()
    code, stderr, peak = _run(["import_prices", str(sparse)], tmp_path, RISKGOV_MAX_FILE_BYTES=str(4 * GiB))
    line = _one_line(stderr)
    assert code == 1, stderr
    assert (
        line == f"CommandError: {sparse.name}, line 1: binary data (NUL bytes), not a CSV text file (nothing imported)"
    )
    assert _tables() == before
    _bounded(peak, baseline["import_prices"], "2 GiB sparse price file, file limit 4 GiB")
