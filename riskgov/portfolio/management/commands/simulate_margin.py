"""``python manage.py simulate_margin REQUEST.json [--output-json OUT.json]`` (FORMATS.md "Margin simulation").

Exit 0 with a summary (account and per underlying); exit 1 with one line
``invalid request: <field path>: <why>`` on bad input (nothing is written then), a file over
``RISKGOV_MAX_JSON_BYTES`` or deeper than ``RISKGOV_MAX_JSON_DEPTH`` included.
``pm: null`` in the request uses the active governed PM parameters of that underlying.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from riskgov.core import limits
from riskgov.portfolio.simulation import MarginRequestError, margin_simulate
from riskgov.presentation import formats as fmt


def result_summary(result: dict) -> list[str]:
    """Human lines for a ``riskgov.margin_result/1`` document."""
    a = result["account"]
    move = a["liquidation_move"]
    lines = [
        f"account: equity {fmt.money(a['equity_usd'])}, IM {fmt.money(a['initial_margin_usd'])}, "
        f"MM {fmt.money(a['maintenance_margin_usd'])}, margin ratio {fmt.ratio(a['margin_ratio'])}, "
        f"liquidatable {'yes' if a['liquidatable'] else 'no'}, liquidation move "
        f"{'none within ±50 %' if move is None else fmt.percent(move, 1, signed=True)}"
    ]
    for u in result["underlyings"]:
        w = u["worst_scenario"]
        g = u["greeks"]
        lines.append(
            f"{u['asset']}: MM {fmt.money(u['maintenance_margin_usd'])}, IM {fmt.money(u['initial_margin_usd'])}, "
            f"worst loss {fmt.money(u['worst_loss_usd'])} at move {fmt.percent(w['move'], 1, signed=True)} vol {w['vol']}, "
            f"contingencies {fmt.money(u['contingencies']['short_option_usd'] + u['contingencies']['perp_usd'])}, "
            f"options {fmt.money(u['option_value_usd'])}, delta {fmt.number(g['delta'])}, "
            f"vega {fmt.money(g['vega_usd'])}/vol pt, theta {fmt.money(g['theta_usd'])}/day"
        )
    return lines


class Command(BaseCommand):
    help = "Portfolio margin of one account from a riskgov.margin_request/1 file (RISK_MODEL §14)."

    def add_arguments(self, parser):
        parser.add_argument("request", help="riskgov.margin_request/1 JSON file")
        parser.add_argument("--output-json", dest="output_json", help="write riskgov.margin_result/1 here")

    def _fail(self, line: str) -> None:
        self.stderr.write(line)
        sys.exit(1)

    def handle(self, *args, **o):
        path = Path(o["request"])
        try:
            request = limits.load_json(path)
        except OSError as exc:
            self._fail(f"invalid request: request: cannot read {path}: {exc.strerror}")
        except limits.InputTooLarge as exc:
            self._fail(f"invalid request: request: {exc}")
        except UnicodeDecodeError as exc:
            self._fail(f"invalid request: request: {path.name}: not UTF-8 text (byte {exc.start}: {exc.reason})")
        except json.JSONDecodeError as exc:
            self._fail(f"invalid request: request: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})")
        try:
            result = margin_simulate(request=request)
        except MarginRequestError as exc:
            self._fail(f"invalid request: {exc}")
        if o["output_json"]:
            out = Path(o["output_json"])
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            tmp.replace(out)
        for line in result_summary(result):
            self.stdout.write(line)
        if o["output_json"]:
            self.stdout.write(f"wrote {o['output_json']}")
