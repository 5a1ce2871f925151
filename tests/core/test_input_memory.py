"""Peak memory of the real commands on a zip bomb, a 2 GiB sparse file and a small Parquet
table of millions of rows (issue #14 item 3).

Each command runs in a child process (``manage.py``, as a user runs it, through
:data:`WRAPPER`) on the test database; the test asserts the one-line error, exit 1, every
table unchanged and the child's own peak RSS — its ``VmHWM`` at exit, per address space and
fresh at exec (``ru_maxrss`` of ``os.wait4`` is not: on Linux it carries the parent's peak
across fork + exec, so it could not see growth) — below :data:`PEAK_RSS_BOUND`, and at most
:data:`ABOVE_BASELINE` above the same command refusing a tiny file (what loading Django,
numpy, pyarrow and pandas costs). With the default limits the inputs are refused before
they are read (the Parquet table by its footer); with the size limits raised past them
(the settings are environment variables) the zip bomb and the sparse file are read,
streaming, and the row and NUL checks refuse them within the first block: memory is bounded
by the block (16 MiB), not by the file. A control (a 1,000,000-row Parquet decoded with the
row limit raised) shows the measurement sees growth.

Measured (development machine, 2026-12, VmHWM): baseline 282 MiB (import_snapshot) and
281 MiB (import_prices); zip bomb 282 MiB, read past the size limit 329 MiB; 2 GiB sparse
file 281 MiB, read past the size limit 283 MiB; 6,000,000-row Parquet (few KB) refused by
its footer 293 MiB; control: 1,000,000-row Parquet decoded 377 MiB (+95 MiB). Before the
bounds: 3.3 GB and 4.3 GB (issue #14), and 864 MiB for a 5,000,000-row 56 KB Parquet.
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


#: Run by ``python -c`` in the child: registers an atexit hook that writes the process's own
#: ``VmHWM`` (peak resident set of this address space, kB; it starts fresh at exec, unlike
#: ``ru_maxrss``, which on Linux carries the parent's peak across fork + exec) to the file
#: ``argv[1]``, then runs ``manage.py`` (``argv[2]``) with the command's argv.
WRAPPER = """
import atexit, runpy, sys
out = sys.argv[1]
def _peak():
    with open("/proc/self/status") as fh:
        kb = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(out, "w") as fh:
        fh.write(kb)
atexit.register(_peak)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _run(argv: list[str], tmp_path: Path, **env: str) -> tuple[int, str, int]:
    """Run ``manage.py argv`` in a child; return (exit code, stderr, the child's own peak RSS
    in bytes: its ``VmHWM`` at exit, written by :data:`WRAPPER`)."""
    db = connection.settings_dict
    child_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        **env,
    }
    err, hwm = tmp_path / "stderr.txt", tmp_path / "vmhwm.txt"
    hwm.unlink(missing_ok=True)
    with err.open("wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(hwm), str(REPO / "manage.py"), *argv],
            cwd=REPO,
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            check=False,
        )
    stderr = err.read_text(errors="replace")
    assert hwm.exists(), f"the child wrote no VmHWM (exit {proc.returncode}): {stderr[-2000:]}"
    return proc.returncode, stderr, int(hwm.read_text()) * 1024


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


def _parquet_snapshot(root: Path, rows: int) -> Path:
    """A snapshot folder whose ``balances.parquet`` holds ``rows`` rows in a few KB."""
    from tests.core.test_malformed_corpus import many_rows_parquet
    from tests.snapshots.conftest import write_snapshot

    path = write_snapshot(root)
    (path / "balances.csv").unlink()
    many_rows_parquet(path / "balances.parquet", rows)
    assert (path / "balances.parquet").stat().st_size < 256 * 1024
    return path


def test_small_parquet_with_millions_of_rows_is_refused_by_its_footer_in_bounded_memory(baseline, tmp_path):
    snap = _parquet_snapshot(tmp_path / "snap", 6_000_000)
    before = _tables()
    code, stderr, peak = _run(["import_snapshot", str(snap)], tmp_path)
    line = _one_line(stderr)
    assert code == 1, stderr
    assert line == (
        "CommandError: invalid snapshot: balances.parquet: row count 6000000 exceeds the limit "
        "RISKGOV_MAX_PARQUET_ROWS=5000000"
    )
    assert _tables() == before
    _bounded(peak, baseline["import_snapshot"], "6,000,000-row Parquet (few KB), default limits")


def test_the_peak_measurement_sees_a_table_decoded_whole(baseline, tmp_path):
    """The measurement is not blind: with the row limit raised past it, a 1,000,000-row
    Parquet table is decoded whole, and the child's peak grows well above the baseline."""
    snap = _parquet_snapshot(tmp_path / "snap", 1_000_000)
    before = _tables()
    code, stderr, peak = _run(["import_snapshot", str(snap)], tmp_path, RISKGOV_MAX_PARQUET_ROWS=str(10_000_000))
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert _tables() == before
    grown = peak - baseline["import_snapshot"]
    print(f"1,000,000-row Parquet decoded (row limit raised): peak RSS {peak / MiB:.0f} MiB (+{grown / MiB:.0f} MiB)")
    assert grown > 64 * MiB
