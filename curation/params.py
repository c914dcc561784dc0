"""Whole numbers from a request: the one way every page and API view reads them.

A number arrives as text in a query string or a form, or as a JSON value. Only a plain
ASCII integer is taken: the digits 0-9 and nothing else (no sign, space, "1e3", "0x10",
"١٢" or "²", which Python's int() or str.isdigit() would let through or choke on), at most
19 digits, inside the range the caller gives. Anything else raises BadParameter, which
names the parameter; curation.middleware.BadParameterMiddleware answers it with a 400 page
(or a JSON {"detail": ...} under /api/), and the API's exception handler does the same for
DRF views.

    from curation import params

    page = params.int_param(request.GET, "page", low=1, default=1)
    run_id = params.id_param(request.POST, "run")            # None when absent or empty
    ids = params.int_list(request.POST, "image")             # every ?image=, each an id
    k = params.int_param(request.data, "k", low=1, high=100, default=12)   # JSON or form
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, overload

from django.core.exceptions import BadRequest

MAX_ID = 2**63 - 1  # the largest value of a 64-bit database column (ids, ranks)
MAX_DIGITS = len(str(MAX_ID))
_DIGITS = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS)  # noqa: UP031 - a regex quantifier


class BadParameter(BadRequest):
    """A request parameter that isn't what the view can use. `name` is the parameter,
    `message` a sentence that names it and says what to send instead."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


def _shown(raw: object) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return ascii(text[:20] + ("..." if len(text) > 20 else ""))


def describe(low: int, high: int) -> str:
    if high >= MAX_ID:
        return f"a whole number of at least {low}, in the digits 0-9"
    return f"a whole number from {low} to {high}, in the digits 0-9"


def parse_int(raw: object, name: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """`raw` (a string from a query or form, or a JSON value) as an int in [low, high]."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw):
        value = int(raw)
    else:
        raise BadParameter(name, f"{name} must be {describe(low, high)}, not {_shown(raw)}")
    if not low <= value <= high:
        raise BadParameter(name, f"{name} must be {describe(low, high)}, not {value}")
    return value


@overload
def int_param(
    params: Mapping[str, Any], name: str, *, low: int = ..., high: int = ...
) -> int | None: ...


@overload
def int_param(
    params: Mapping[str, Any], name: str, *, low: int = ..., high: int = ..., default: int
) -> int: ...


def int_param(
    params: Mapping[str, Any],
    name: str,
    *,
    low: int = 0,
    high: int = MAX_ID,
    default: int | None = None,
) -> int | None:
    """params[name] (request.GET, request.POST, request.query_params, request.data) as an
    int in [low, high]; `default` when the parameter is absent, empty or JSON null."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, low=low, high=high)


def id_param(params: Mapping[str, Any], name: str) -> int | None:
    """A row id (1 and up), or None when the parameter is absent or empty."""
    return int_param(params, name, low=1)


def int_list(params, name: str, *, low: int = 1, high: int = MAX_ID) -> list[int]:
    """Every value of a repeated parameter (`?image=3&image=5`), each in [low, high]."""
    values = params.getlist(name) if hasattr(params, "getlist") else params.get(name) or []
    if not isinstance(values, list):
        values = [values]
    return [parse_int(raw, name, low=low, high=high) for raw in values]
