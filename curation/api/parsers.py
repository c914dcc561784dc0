"""The API's JSON parser, with limits: a body over CURATION_API_MAX_JSON_BYTES is a 413 (told
by Content-Length before anything is read, or found reading one byte past the limit), and a
document nested deeper than MAX_DEPTH a 400, where the standard parser would give a 500
(RecursionError) for a few hundred kilobytes of "[[[[...".
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32  # arrays and objects inside each other; our bodies need 3


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this API accepts."
    default_code = "request_too_large"


def depth_over(value, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests arrays/objects more than `limit` deep. Iterative:
    a deep document must not cost a deep Python stack here either."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return False


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        context = parser_context or {}
        limit = settings.CURATION_API_MAX_JSON_BYTES
        request = context.get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise RequestTooLarge(_too_large(limit))
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(_too_large(limit))
        try:
            text = body.decode(context.get("encoding") or settings.DEFAULT_CHARSET)
        except (UnicodeDecodeError, LookupError):
            raise ParseError("JSON parse error - the body is not UTF-8 text") from None
        try:
            data = json.loads(text, parse_constant=_strict_constant)
        except RecursionError:
            raise ParseError(_too_deep()) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if isinstance(data, dict | list) and depth_over(data, MAX_DEPTH):
            raise ParseError(_too_deep())
        return data


def _too_large(limit: int) -> str:
    return f"The JSON body is larger than {limit:,} bytes, the most this API accepts."


def _too_deep() -> str:
    return f"JSON parse error - arrays and objects nested more than {MAX_DEPTH} levels deep."
