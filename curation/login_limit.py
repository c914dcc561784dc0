"""Login rate limit: N failed log-ins for one username from one address lock that pair for a
window. Counters live in Django's cache (shared across web processes when CACHE_URL points at
Redis). Failures are counted from the `user_login_failed` signal, so the app's login page and
the admin's count alike; the backend refuses a locked pair even with the right password.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the X-Forwarded-For entry the nearest of
    DJANGO_NUM_PROXIES trusted proxies added (entries further left are client-controlled)."""
    proxies = settings.DJANGO_NUM_PROXIES
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(request, username: str) -> str:
    pair = f"{username.strip().lower()}|{client_ip(request)}"
    return "login-failures:" + hashlib.sha256(pair.encode()).hexdigest()


def seconds_locked(request, username: str | None) -> int:
    """Seconds until this username may try again from this address; 0 when not locked."""
    if request is None or not username:
        return 0
    entry = cache.get(_key(request, username))
    if not entry or entry["count"] < settings.CURATION_LOGIN_MAX_FAILURES:
        return 0
    return max(1, math.ceil(entry["until"] - time.time()))


def record_failure(request, username: str) -> None:
    window = settings.CURATION_LOGIN_WINDOW_SECONDS
    key = _key(request, username)
    entry = cache.get(key)
    now = time.time()
    if not entry or entry["until"] <= now:
        entry = {"count": 0, "until": now + window}
    entry["count"] += 1
    if entry["count"] >= settings.CURATION_LOGIN_MAX_FAILURES:
        entry["until"] = now + window  # the lock lasts a full window from the last failure
    cache.set(key, entry, timeout=math.ceil(entry["until"] - now))


def clear_failures(request, username: str) -> None:
    cache.delete(_key(request, username))


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs) -> None:
    username = credentials.get("username")
    if request is not None and username:
        record_failure(request, username)


@receiver(user_logged_in)
def _forget_failures(sender, request, user, **kwargs) -> None:
    if request is not None:
        clear_failures(request, user.get_username())


class RateLimitedModelBackend(ModelBackend):
    """ModelBackend that refuses a locked username/address pair without checking the password,
    so guessing goes nowhere while locked, whichever login form is used."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if seconds_locked(request, username or kwargs.get("username")):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_all_permissions(self, user_obj, obj=None):
        """Through curation.auth_cache (the shared cache), not three queries a request."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        from curation.auth_cache import user_facts

        return user_facts(user_obj)["perms"]
