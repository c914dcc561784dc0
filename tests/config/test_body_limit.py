"""Request-body limits hold before the body is read, against a real gunicorn with CSRF enforced
as a browser meets it (config/body_limit.py)."""

from __future__ import annotations

import io
import json
import threading
from urllib.parse import urlencode

import pytest

from config.body_limit import BodyLimit
from tests.support.server import Browser, multipart, start_gunicorn

MB = 1024 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def upload_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("upload-tmp")


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory, upload_tmp):
    env = {"CURATION_MAX_UPLOAD_MB": "5", "DJANGO_FILE_UPLOAD_TEMP_DIR": str(upload_tmp)}
    with django_db_blocker.unblock():
        gunicorn = start_gunicorn(tmp_path_factory.mktemp("server"), env=env)
    yield gunicorn
    gunicorn.stop()


def _send_headers_then_read(browser: Browser, method: str, path: str, headers: dict):
    """Send only the request's head, then wait for the answer: it must come without the body."""
    sock = browser.connect()
    try:
        sock.sendall(browser.head(method, path, headers))
        return browser.read_answer(sock)
    finally:
        sock.close()


def _big_upload_headers(browser: Browser, size: int) -> dict:
    token = browser.csrf_token()
    content_type, head, tail = multipart(
        {"csrfmiddlewaretoken": token, "dataset": "big"}, "upload", "catalog.zip", size
    )
    return {"Content-Type": content_type, "Content-Length": str(len(head) + size + len(tail))}


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_12_mb_upload_is_refused_before_its_body_is_sent(server, upload_tmp):
    browser = Browser(server)
    answer = _send_headers_then_read(
        browser, "POST", "/import/", _big_upload_headers(browser, 12 * MB)
    )
    assert answer.status == 413, answer.text[:500]
    # Not signed in: the small limit, as every upload page needs a session.
    assert "at most 1.0 MB (CURATION_MAX_BODY_KB, until you sign in); this one is 12" in answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert not any(upload_tmp.iterdir())


@pytest.mark.django_db(transaction=True)
def test_a_made_up_session_cookie_or_token_does_not_lift_the_small_limit(server):
    browser = Browser(server)
    headers = _big_upload_headers(browser, 2 * MB)
    browser.cookies["sessionid"] = "a" * 32
    answer = _send_headers_then_read(browser, "POST", "/import/", headers)
    assert answer.status == 413 and "until you sign in" in answer.text
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(2 * MB)}
    # gunicorn refuses a NUL in a header itself; the others reach the guard.
    tokens = {"Token " + "0" * 40: 413, "Token \x00": 400, "Bearer x": 413, "Token": 413}
    for token, status in tokens.items():
        answer = _send_headers_then_read(
            browser, "POST", "/api/similar/", {**headers, "Authorization": token}
        )
        assert answer.status == status, token


@pytest.mark.django_db(transaction=True)
def test_an_api_token_gets_the_upload_limit(server, data_scientist):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=data_scientist)
    browser = Browser(server)
    body = b'--x\r\nContent-Disposition: form-data; name="dataset"\r\n\r\nnone\r\n--x--\r\n'
    body += b" " * (2 * MB)
    answer = browser.request(
        "POST",
        "/api/similar/",
        body,
        **{"Content-Type": "multipart/form-data; boundary=x", "Authorization": f"Token {token}"},
    )
    assert answer.status != 413 and answer.status < 500, answer.text[:300]


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_data_scientist_gets_the_same_answer(server, data_scientist, upload_tmp):
    browser = Browser(server)
    assert browser.log_in("dana_ds", "dana_ds-password").status == 302
    answer = _send_headers_then_read(
        browser, "POST", "/import/", _big_upload_headers(browser, 12 * MB)
    )
    assert answer.status == 413
    assert "at most 6.0 MB (CURATION_MAX_UPLOAD_MB); this one is 12.0 MB" in answer.text
    assert not any(upload_tmp.iterdir())


@pytest.mark.django_db(transaction=True)
def test_an_upload_under_the_limit_reaches_the_page(server, data_scientist):
    browser = Browser(server)
    assert browser.log_in("dana_ds", "dana_ds-password").status == 302
    token = browser.csrf_token("/import/")
    content_type, head, tail = multipart(
        {"csrfmiddlewaretoken": token, "dataset": "small", "create": "on"},
        "upload",
        "catalog.zip",
        MB,
    )
    body = head + b"\0" * MB + tail
    answer = browser.request("POST", "/import/", body, **{"Content-Type": content_type})
    # The page itself answers (CSRF passed, the body was read): a zero-filled file is no zip.
    assert answer.status not in (403, 413) and answer.status < 500, answer.text[:500]
    assert "zip" in answer.text.lower()


@pytest.mark.django_db(transaction=True)
def test_any_other_post_gets_the_small_limit(server):
    browser = Browser(server)
    headers = {**FORM, "Content-Length": str(2 * MB)}
    answer = _send_headers_then_read(browser, "POST", "/login/", headers)
    assert answer.status == 413 and "(CURATION_MAX_BODY_KB)" in answer.text

    headers = {"Content-Type": "application/json", "Content-Length": str(2 * MB)}
    answer = _send_headers_then_read(browser, "POST", "/api/runs/", headers)
    assert answer.status == 413
    assert "CURATION_MAX_BODY_KB" in json.loads(answer.body)["detail"]


def _chunked_send(sock, total: int, block: int = 64 * 1024) -> None:
    """Write a chunked body of `total` bytes until done or the server hangs up."""
    try:
        sent = 0
        while sent < total:
            sock.sendall(f"{block:x}\r\n".encode() + b"\0" * block + b"\r\n")
            sent += block
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: the rest is never read


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_past_the_limit_is_cut_off_with_a_413(server, upload_tmp):
    browser = Browser(server)
    token = browser.csrf_token()
    content_type, _, _ = multipart({"csrfmiddlewaretoken": token}, "upload", "c.zip", 0)
    headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
    sock = browser.connect()
    try:
        sock.sendall(browser.head("POST", "/import/", headers))
        writer = threading.Thread(target=_chunked_send, args=(sock, 12 * MB), daemon=True)
        writer.start()
        answer = browser.read_answer(sock)
        writer.join(60)
    finally:
        sock.close()
    assert answer.status == 413 and "goes on past that" in answer.text
    assert not any(upload_tmp.iterdir())


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_under_the_limit_is_read(server, merchandiser):
    browser = Browser(server)
    token = browser.csrf_token()
    form = urlencode(
        {"csrfmiddlewaretoken": token, "username": "max_merch", "password": "max_merch-password"}
    ).encode()
    with browser.connect() as sock:
        headers = {**FORM, "Transfer-Encoding": "chunked"}
        sock.sendall(browser.head("POST", "/login/", headers))
        sock.sendall(f"{len(form):x}\r\n".encode() + form + b"\r\n0\r\n\r\n")
        answer = browser.read_answer(sock)
    assert answer.status == 302 and "sessionid" in browser.cookies


@pytest.mark.django_db(transaction=True)
def test_a_content_length_that_is_no_number_is_a_400_not_a_500(server):
    browser = Browser(server)
    for length in ("12abc", "-1", "1e9", "\u0661\u0662"):
        headers = {**FORM, "Content-Length": length}
        answer = _send_headers_then_read(browser, "POST", "/login/", headers)
        assert answer.status == 400, (length, answer.status)


class _Unreadable(io.RawIOBase):
    def read(self, size=-1):
        raise AssertionError("the body was read")


def _call(environ: dict) -> tuple[str, bytes, bool]:
    called = []

    def app(environ, start_response):
        called.append(True)
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    statuses = []
    body = b"".join(BodyLimit(app)(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], body, bool(called)


@pytest.mark.parametrize("length", ["", "+5", " 5", "\u0665", "5.0", "0x10"])
def test_a_content_length_other_servers_pass_on_is_checked_here(length, db):
    """Servers less strict than gunicorn (runserver's wsgiref) hand such values on."""
    environ = {"PATH_INFO": "/login/", "CONTENT_LENGTH": length, "wsgi.input": _Unreadable()}
    if not length:
        environ["wsgi.input"] = io.BytesIO(b"")
    status, _, called = _call(environ)
    assert (status, called) == (("200 OK", True) if not length else ("400 Bad Request", False))


def test_an_over_limit_length_never_reaches_django_nor_reads_the_body(settings):
    settings.CURATION_MAX_BODY_KB = 1
    environ = {"PATH_INFO": "/api/runs/", "CONTENT_LENGTH": "4096", "wsgi.input": _Unreadable()}
    status, body, called = _call(environ)
    assert status.startswith("413") and not called
    assert "at most 1 KB (CURATION_MAX_BODY_KB); this one is 4 KB" in json.loads(body)["detail"]


def test_a_chunked_body_reads_at_most_one_byte_past_the_limit(settings):
    settings.CURATION_MAX_BODY_KB = 1
    stream = io.BytesIO(b"x" * 5000)
    environ = {"PATH_INFO": "/login/", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream}
    status, _, called = _call(environ)
    assert status.startswith("413") and not called and stream.tell() == 1025

    stream = io.BytesIO(b"x" * 1024)
    environ = {"PATH_INFO": "/login/", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream}
    status, body, called = _call(environ)
    assert status == "200 OK" and body == b"x" * 1024
    assert environ["CONTENT_LENGTH"] == "1024"


def test_a_token_with_a_nul_is_no_sign_in_and_no_database_error(db):
    environ = {
        "PATH_INFO": "/api/similar/",
        "CONTENT_LENGTH": str(2 * MB),
        "HTTP_AUTHORIZATION": "Token abc\x00def",
        "wsgi.input": _Unreadable(),
    }
    status, _, called = _call(environ)
    assert status.startswith("413") and not called


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "framing",
    [
        {"Content-Length": "5", "Transfer-Encoding": "chunked"},  # request smuggling
        {"Transfer-Encoding": "gzip, chunked"},  # gunicorn passes it on; the guard refuses
        {"Transfer-Encoding": "identity"},
        {"Content-Length": "5", "Content-Length ": "6"},
        {"Transfer-Encoding": "chunked, chunked"},
    ],
)
def test_ambiguous_framing_is_refused_not_served(server, framing):
    browser = Browser(server)
    answer = _send_headers_then_read(browser, "POST", "/login/", {**FORM, **framing})
    assert 400 <= answer.status < 500, (framing, answer.status)


def _views(patterns, prefix=""):
    """(view name, callback) for every route of the URLconf."""
    from django.urls import URLPattern, URLResolver

    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _views(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + entry.name, entry.callback


def _takes_files(callback) -> bool:
    import inspect

    from rest_framework.parsers import MultiPartParser
    from rest_framework.settings import api_settings

    cls = getattr(callback, "cls", None)
    if cls is not None:  # an API view: multipart named on purpose, not DRF's default list
        parsers = list(cls.parser_classes)
        chosen = parsers != list(api_settings.DEFAULT_PARSER_CLASSES)
        return chosen and any(issubclass(p, MultiPartParser) for p in parsers)
    try:
        source = inspect.getsource(inspect.unwrap(callback))
    except (OSError, TypeError):
        return False
    return "request.FILES" in source


def test_every_page_that_takes_a_file_has_an_upload_limit():
    """A new upload page left out of upload_limits() would refuse every file over 1 MB."""
    from django.urls import get_resolver

    from config.body_limit import upload_limits

    takes_files = {
        name
        for name, callback in _views(get_resolver().url_patterns)
        if not name.startswith("admin:") and _takes_files(callback)  # the admin has no file fields
    }
    assert takes_files, "found no upload page: the walk is broken"
    assert takes_files <= set(upload_limits()), takes_files - set(upload_limits())
