"""The login lockout: per username and address, per username, per address across usernames,
kept where every process sees it (curation/login_limit.py)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import pytest
from django.contrib.auth import authenticate
from django.core import checks
from django.test import Client, RequestFactory

from curation.login_limit import Who, address_key, check_lockout_store_is_shared, store
from curation.models import LoginFailure
from tests.support.server import Browser, start_gunicorn


@pytest.fixture
def limits(settings):
    settings.CURATION_LOGIN_MAX_FAILURES = 3
    settings.CURATION_LOGIN_MAX_FAILURES_PER_USERNAME = 5
    settings.CURATION_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    settings.CURATION_LOGIN_WINDOW_SECONDS = 60
    return settings


def _login(username, password, ip="10.0.0.1", path="/login/"):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_one_password_sprayed_over_many_usernames_locks_the_address(limits, merchandiser):
    for i in range(6):
        assert _login(f"someone-{i}", "Winter2026!").status_code == 200
    locked = _login("max_merch", "max_merch-password")
    assert locked.status_code == 429
    assert "from your address, for several usernames" in locked.content.decode()
    # Another address is not locked, for the same username.
    assert _login("max_merch", "max_merch-password", ip="10.0.0.2").status_code == 302


def test_an_ipv6_client_counts_by_its_64_so_rotating_addresses_gains_nothing(limits, merchandiser):
    for i in range(6):
        assert _login(f"someone-{i}", "x", ip=f"2001:db8:1:2::{i + 1:x}").status_code == 200
    assert _login("max_merch", "max_merch-password", ip="2001:db8:1:2::99").status_code == 429
    assert _login("max_merch", "max_merch-password", ip="2001:db8:1:3::1").status_code == 302


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::/64"),
        ("192.0.2.7", "192.0.2.7"),
        ("not-an-address\x00" + "x" * 100, "not-an-address" + "x" * 50),
    ],
)
def test_addresses_are_counted_in_one_spelling(address, key):
    assert address_key(address) == key


def test_a_forwarded_for_header_of_any_length_is_no_500(limits, settings, db):
    settings.DJANGO_NUM_PROXIES = 1
    response = Client().post(
        "/login/", {"username": "x", "password": "y"}, HTTP_X_FORWARDED_FOR="9" * 10_000
    )
    assert response.status_code == 200
    assert LoginFailure.objects.get().address == "9" * 64


def test_one_username_guessed_from_many_addresses_locks_that_username(limits, merchandiser):
    for i in range(5):
        assert _login("max_merch", f"guess-{i}", ip=f"10.1.0.{i}").status_code == 200
    locked = _login("max_merch", "max_merch-password", ip="10.2.0.1")
    assert locked.status_code == 429
    assert "&#x27;max_merch&#x27;, from several addresses" in locked.content.decode()
    assert _login("someone-else", "x", ip="10.2.0.1").status_code == 200


def test_the_backend_refuses_a_locked_login_even_past_the_middleware(limits, merchandiser):
    for _ in range(3):
        _login("max_merch", "wrong")
    request = RequestFactory().post("/api/anything/", REMOTE_ADDR="10.0.0.1")
    assert authenticate(request, username="max_merch", password="max_merch-password") is None
    other = RequestFactory().post("/api/anything/", REMOTE_ADDR="10.0.0.9")
    assert authenticate(other, username="max_merch", password="max_merch-password") is not None


def test_case_and_spaces_do_not_make_a_new_username(limits, merchandiser):
    for name in ("max_merch", "MAX_MERCH", " Max_Merch "):
        _login(name, "wrong")
    assert _login("max_merch", "max_merch-password").status_code == 429


@pytest.mark.parametrize(
    "username",
    ["a\x00b", "x" * 10_000, "\u202eadmin", "' OR 1=1 --", "<script>alert(1)</script>"],
)
def test_hostile_usernames_are_counted_not_a_500(limits, username, db):
    client = Client()
    for _ in range(3):
        response = client.post("/login/", {"username": username, "password": "x"})
        assert response.status_code in (200, 400)
    response = client.post("/login/", {"username": username, "password": "x"})
    assert response.status_code in (400, 429)
    assert "<script>alert" not in response.content.decode()


def test_attempts_older_than_the_window_are_pruned(limits, merchandiser, monkeypatch):
    for _ in range(3):
        _login("max_merch", "wrong")
    assert LoginFailure.objects.count() == 3
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert _login("max_merch", "max_merch-password").status_code == 302
    assert LoginFailure.objects.count() == 0  # pruned, then the success forgave its own


@pytest.mark.redis
def test_the_cache_store_on_redis_holds_the_same_limits(limits, redis_url, merchandiser):
    limits.CURATION_LOGIN_STORE = "cache"
    limits.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    for _ in range(3):
        assert _login("max_merch", "wrong").status_code == 200
    assert _login("max_merch", "max_merch-password").status_code == 429
    assert not LoginFailure.objects.exists()
    assert _login("max_merch", "max_merch-password", ip="10.0.0.2").status_code == 302


def test_the_deploy_check_warns_when_the_lockout_is_not_shared(settings):
    settings.CURATION_LOGIN_STORE = "cache"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    found = check_lockout_store_is_shared(None)
    assert [m.id for m in found] == ["curation.W001"] and found[0].level == checks.WARNING
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/8",
        }
    }
    assert check_lockout_store_is_shared(None) == []
    settings.CURATION_LOGIN_STORE = "database"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert check_lockout_store_is_shared(None) == []


def test_an_attempt_one_past_the_limit_is_refused_though_recorded_first(limits, merchandiser):
    """Parallel guesses: each is recorded before its check, so the (N+1)-th is refused even
    when its N predecessors have not finished."""
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.1")
    who = Who.of(request, "max_merch")
    for _ in range(3):
        store().add(who, time.time())  # three in flight
    assert authenticate(request, username="max_merch", password="max_merch-password") is None
    assert LoginFailure.objects.count() == 3  # the refused one is withdrawn


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_four_gunicorn_processes(merchandiser, tmp_path):
    env = {"CURATION_LOGIN_MAX_FAILURES": "3", "CURATION_LOGIN_WINDOW_SECONDS": "600"}
    server = start_gunicorn(tmp_path, workers=4, env=env)
    try:
        browser = Browser(server)
        token = browser.csrf_token()

        def attempt(password: str) -> int:
            form = {"csrfmiddlewaretoken": token, "username": "max_merch", "password": password}
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            return browser.request("POST", "/login/", urlencode(form).encode(), **headers).status

        assert [attempt("wrong") for _ in range(3)] == [200, 200, 200], server.logs()
        # Then eight at once, so that every process answers some: all refused, the right
        # password too.
        statuses: list[int] = []
        passwords = ["wrong", "max_merch-password"] * 4
        threads = [
            threading.Thread(target=lambda p=p: statuses.append(attempt(p))) for p in passwords
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert statuses == [429] * 8, server.logs()
        assert "sessionid" not in browser.cookies
        rows = server.answered(12)  # the GET, three failures, eight refusals
        assert len(rows) == 12, rows
        failed_on = [pid for pid, request, status in rows if status == 200 and "POST" in request]
        refused_by = {pid for pid, _, status in rows if status == 429}
        assert len(failed_on) == 3 and refused_by, rows
        # A process that answered fewer than three of the failures refused too: with a lock
        # in each process's memory it would have let the right password in.
        assert any(failed_on.count(pid) < 3 for pid in refused_by), rows
    finally:
        server.stop()


def test_a_lost_database_during_a_login_is_a_503_not_a_500(limits, merchandiser, monkeypatch):
    from django.db import OperationalError

    from curation import login_limit

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(login_limit, "find_lock", lost)
    response = _login("max_merch", "max_merch-password")
    assert response.status_code == 503 and "Try again" in response.content.decode()


def test_a_login_form_with_thousands_of_fields_is_a_400_not_a_500(limits, db):
    fields = {f"f{i}": "x" for i in range(1500)} | {"username": "x", "password": "y"}
    assert Client().post("/login/", fields).status_code == 400
    assert not LoginFailure.objects.exists()
