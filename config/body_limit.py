"""Request-body limits enforced before the body is read: a WSGI wrapper around Django.

Django reads a POST body in the first piece of code that touches `request.POST`, and the CSRF
middleware does that for every POST without a token header, so a limit checked in a view
comes after the whole body has been read (and an upload written to the temp folder), for any
client, anonymous included. Here, before Django sees the request, the Content-Length is
compared with the limit for its URL: an upload page's own limit (for a signed-in session or
an API token: every upload page needs one), or CURATION_MAX_BODY_KB for every other request
and every other client. Past it the answer is a 413 (JSON under /api/) and no byte of the
body is read.

A body sent without a Content-Length (Transfer-Encoding: chunked) would be read as empty by
Django; it is read here through a cap into a buffer and handed on with its length, so such a
client works up to the limit, and the byte after the limit ends it with a 413.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import DatabaseError
from django.http import parse_cookie
from django.urls import Resolver404, resolve

MB = 1024 * 1024
READ_BLOCK = 64 * 1024
BAD_LENGTH = "The Content-Length header is not a whole number of bytes."
BAD_CODING = "Send the body with a Content-Length, or with Transfer-Encoding: chunked alone."


class BodyTooLarge(Exception):
    pass


def upload_limits() -> dict[str, tuple[int, str]]:
    """Upload pages by URL name: (most bytes a request may send, the setting behind it).
    Each allows 1 MB over its file limit for the form's other fields and multipart framing."""
    file_limit = ((settings.CURATION_MAX_FILE_MB + 1) * MB, "CURATION_MAX_FILE_MB")
    return {
        "curation:import_start": (
            (settings.CURATION_MAX_UPLOAD_MB + 1) * MB,
            "CURATION_MAX_UPLOAD_MB",
        ),
        "curation:review_import": (21 * MB, "the answers file's 20 MB"),
        "curation:dataset_similarity": file_limit,
        "api-similar": file_limit,
        # On main, from the classify branch (names that don't resolve here are never looked up).
        "curation:classify_photo": file_limit,
        "api-classify": file_limit,
    }


def limit_for(path: str) -> tuple[int, str]:
    """(most bytes a request to `path` may send, the setting behind it)."""
    try:
        name = resolve(path).view_name
    except Resolver404:
        name = ""
    return upload_limits().get(name, small_limit())


def small_limit() -> tuple[int, str]:
    return settings.CURATION_MAX_BODY_KB * 1024, "CURATION_MAX_BODY_KB"


def signed_in(environ: dict[str, Any]) -> bool:
    """Whether the request carries a live session of a signed-in user or a known API token:
    every upload page needs one, so a body bigger than the small limit from anyone else is
    refused without reading it (one query, only for such bodies)."""
    try:
        key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
        if key and import_module(settings.SESSION_ENGINE).SessionStore(key).get(SESSION_KEY):
            return True
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "token" or not token or "\x00" in token:
            return False
        from rest_framework.authtoken.models import Token

        return Token.objects.filter(key=token[:40]).exists()
    except DatabaseError:
        return False  # the page could not serve the request either


def allowed(environ: dict[str, Any], path: str, declared: int | None) -> tuple[int, str]:
    """The limit for this request: its URL's, or the small one for a client that isn't
    signed in (`declared` None: a body of unknown length)."""
    limit, setting = limit_for(path)
    small, small_setting = small_limit()
    if limit <= small or (declared is not None and declared <= small) or signed_in(environ):
        return limit, setting
    return small, f"{small_setting}, until you sign in"


def read_capped(stream: IO[bytes], limit: int) -> IO[bytes]:
    """The body of `stream` in a rewound buffer (memory, then an unnamed temp file). Reads at
    most one byte past `limit`; that byte raises BodyTooLarge."""
    buffer = tempfile.SpooledTemporaryFile(  # noqa: SIM115  (handed on open; closed after the response)
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR
    )
    size = 0
    while True:
        block = stream.read(min(READ_BLOCK, limit + 1 - size))
        if not block:
            break
        size += len(block)
        if size > limit:
            buffer.close()
            raise BodyTooLarge
        buffer.write(block)
    buffer.seek(0)
    return buffer  # type: ignore[return-value]


def size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def too_large(path: str, limit: int, setting: str, declared: int | None) -> tuple[str, bytes]:
    """(content type, body) of the 413 answer."""
    sent = f"is {size_text(declared)}" if declared is not None else "goes on past that"
    message = (
        f"This address accepts a request body of at most {size_text(limit)} ({setting}); "
        f"this one {sent}. Send a smaller file, or split it into parts."
    )
    return error_body(path, "Request too large", message)


def bad_request(path: str, message: str) -> tuple[str, bytes]:
    """(content type, body) of a 400 answer."""
    return error_body(path, "Bad request", message)


def error_body(path: str, title: str, message: str) -> tuple[str, bytes]:
    """(content type, body) of an error answer: JSON under /api/, else a small page. No
    template: Django has not seen the request yet."""
    if path.startswith("/api/"):
        return "application/json", json.dumps({"detail": message}).encode()
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
        f"<h1>{title}</h1><p>{message}</p></html>"
    )
    return "text/html; charset=utf-8", page.encode()


class BodyLimit:
    """WSGI middleware: `BodyLimit(get_wsgi_application())`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            if not (length.isascii() and length.isdigit()):
                return self.answer(start_response, "400 Bad Request", bad_request(path, BAD_LENGTH))
            limit, setting = allowed(environ, path, int(length))
            if int(length) > limit:
                return self.answer(
                    start_response,
                    "413 Content Too Large",
                    too_large(path, limit, setting, int(length)),
                )
            return self.app(environ, start_response)
        coding = environ.get("HTTP_TRANSFER_ENCODING", "")
        if not coding:
            return self.app(environ, start_response)
        if coding.strip().lower() != "chunked":
            # gzip and the like: nothing here decodes them, and Django would parse the
            # coded bytes as the form.
            return self.answer(start_response, "400 Bad Request", bad_request(path, BAD_CODING))
        limit, setting = allowed(environ, path, None)
        try:
            buffer = read_capped(environ["wsgi.input"], limit)
        except BodyTooLarge:
            return self.answer(
                start_response, "413 Content Too Large", too_large(path, limit, setting, None)
            )
        environ["wsgi.input"] = buffer
        environ["CONTENT_LENGTH"] = str(buffer.seek(0, 2))
        buffer.seek(0)
        return ClosingBody(self.app(environ, start_response), buffer)

    @staticmethod
    def answer(start_response, status: str, content: tuple[str, bytes]) -> list[bytes]:
        content_type, body = content
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


class ClosingBody:
    """The app's response, closing the request's buffer along with it."""

    def __init__(self, result: Iterable[bytes], buffer: IO[bytes]):
        self.result = result
        self.buffer = buffer

    def __iter__(self):
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.buffer.close()
