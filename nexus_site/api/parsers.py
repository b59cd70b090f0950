"""The API's JSON parser: DRF's, plus a clear 400 for a body nested too deeply to parse.

Python's `json` decoder recurses once per nesting level, so `[[[[...]]]]` a few thousand levels deep
raises `RecursionError` (a 500 with DRF's parser). No body of this API nests more than four levels
(`items[i].teams[j]` in a bulk upsert), so anything that deep is refused as malformed input.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

TOO_DEEP = "The JSON body is nested too deeply to parse."


class JSONParser(DRFJSONParser):
    """`application/json` bodies. Raises `ParseError` (a 400 naming `body`) for malformed JSON, as
    DRF's parser does, and for JSON nested too deeply for Python's decoder."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(TOO_DEEP) from exc
