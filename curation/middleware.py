"""Request guards that apply to every page and API endpoint alike.

- LoginRateLimitMiddleware: a locked-out log-in (too many failures for that username, from
  that address, or both) posting to a login form gets a 429 page that says who is locked and
  when to try again (counting lives in curation/login_limit.py).
- RejectNulBytesMiddleware: a NUL byte in a query or form parameter is a 400 naming the
  parameter (PostgreSQL refuses NUL in text, which would otherwise surface as a 500).
- BadParameterMiddleware: a view that finds a parameter it can't use (curation.params raises
  BadParameter) answers 400 with the message, as JSON under /api/, without a traceback in
  the log.
- DatabaseErrorMiddleware: a lost database connection is retried once for a read (GET/HEAD)
  and answered with a 503 for a write, whose transaction the database has rolled back.
"""

from __future__ import annotations

import contextlib
import logging
import math

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from curation.login_limit import lock_for
from curation.params import BadParameter
from curation.views.errors import error_response, is_api

log = logging.getLogger(__name__)


class LoginRateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._paths: set[str] | None = None

    def login_paths(self) -> set[str]:
        if self._paths is None:
            paths = set()
            for name in ("login", "admin:login"):
                with contextlib.suppress(NoReverseMatch):
                    paths.add(reverse(name))
            self._paths = paths
        return self._paths

    def __call__(self, request):
        if request.method == "POST" and request.path in self.login_paths():
            username = request.POST.get("username", "")
            try:
                lock = lock_for(request, username)
            except (OperationalError, InterfaceError):
                # The backend checks again inside the view, where a lost database is a 503.
                lock = None
            if lock:
                minutes = math.ceil(lock.seconds / 60)
                reason = (
                    f"{lock.reason} Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
                    "or ask an admin to reset your password."
                )
                response = render(request, "429.html", {"reason": reason}, status=429)
                response["Retry-After"] = str(lock.seconds)
                return response
        return self.get_response(request)


class RejectNulBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        params = [request.GET]
        if request.method == "POST" and _small_form(request):
            params.append(request.POST)
        for query in params:
            for key, values in query.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    name = key.replace("\x00", "\\x00")
                    return error_response(
                        request,
                        400,
                        f"the parameter '{name}' contains a NUL character; remove it",
                        "400.html",
                    )
        return self.get_response(request)


def _small_form(request) -> bool:
    """A form body worth checking here. Big multipart bodies are uploads: parsing them here
    would read the file before the view can refuse it by size; their fields go through
    Django forms, which refuse NUL themselves."""
    if request.content_type == "application/x-www-form-urlencoded":
        return True
    if request.content_type != "multipart/form-data":
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE


class ExceptionMiddleware:
    """Middleware that only answers exceptions (in `process_exception`): every request
    passes through untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


class BadParameterMiddleware(ExceptionMiddleware):
    def process_exception(self, request, exception):
        if not isinstance(exception, BadParameter):
            return None
        log.info("bad parameter in %s %s: %s", request.method, request.path, exception.message)
        return error_response(request, 400, exception.message, "400.html")


DATABASE_LOST = (
    "The database connection was lost while handling this request, so it was not completed "
    "(a change in progress was rolled back). Try again in a moment."
)


def _close_broken_connections() -> bool:
    """Close connections the error left unusable. False when one is inside a transaction
    the request does not own (then nothing may be retried)."""
    retry_ok = True
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            retry_ok = False
            continue
        if conn.connection is not None and not conn.is_usable():
            conn.close()
    return retry_ok


class DatabaseErrorMiddleware(ExceptionMiddleware):
    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database error in %s %s: %s", request.method, request.path, exception)
        retry_ok = _close_broken_connections()
        if request.method in ("GET", "HEAD") and retry_ok and request.resolver_match:
            match = request.resolver_match
            try:
                return match.func(request, *match.args, **match.kwargs)
            except (OperationalError, InterfaceError) as again:
                log.warning("retry of %s failed too: %s", request.path, again)
                _close_broken_connections()
        return self._unavailable(request)

    def _unavailable(self, request) -> HttpResponse:
        # No template: rendering base.html would query the database that just failed.
        if is_api(request):
            response: HttpResponse = JsonResponse({"detail": DATABASE_LOST}, status=503)
        else:
            response = HttpResponse(
                f"<!doctype html><title>Try again</title><h1>Try again</h1><p>{DATABASE_LOST}</p>",
                status=503,
            )
        response["Retry-After"] = "5"
        return response
