"""The API's JSON request parser, within the input limits (:mod:`riskgov.core.limits`).

DRF's ``JSONParser`` reads a body of any size and lets ``RecursionError`` from a deeply
nested document escape as a 500. :class:`BoundedJSONParser` reads at most
``RISKGOV_MAX_JSON_BYTES`` (+1 to tell) and refuses a document nested deeper than
``RISKGOV_MAX_JSON_DEPTH`` before parsing it: both answer 400 with one line naming the limit.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from riskgov.core import limits


class BoundedJSONParser(JSONParser):
    """``application/json`` bodies within ``RISKGOV_MAX_JSON_BYTES`` and ``RISKGOV_MAX_JSON_DEPTH``.

    Raises:
        ParseError: (400) too large, too deep, not UTF-8 or not JSON (NaN and Infinity
            refused when ``STRICT_JSON``, as DRF does).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        lim = limits.limits()
        blob = stream.read(lim.json_bytes + 1) if stream is not None else b""
        if len(blob) > lim.json_bytes:
            raise ParseError(str(limits.InputTooLarge("request body", "JSON size", None, "json_bytes", lim.json_bytes)))
        try:
            return limits.load_json(
                blob, lim, label="request body", parse_constant=strict_constant if self.strict else None
            )
        except limits.InputTooLarge as exc:
            raise ParseError(str(exc)) from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
