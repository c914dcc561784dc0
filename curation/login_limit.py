"""Login lockout, shared by every web process and machine.

Three limits over a sliding window of CURATION_LOGIN_WINDOW_SECONDS, whichever is hit first:
- one username from one address: CURATION_LOGIN_MAX_FAILURES (a person mistyping);
- one username from any address: CURATION_LOGIN_MAX_FAILURES_PER_USERNAME (one account
  guessed from many machines);
- one address for any usernames: CURATION_LOGIN_MAX_FAILURES_PER_ADDRESS (one password
  sprayed over many accounts). Higher than the first, as a whole office can share an address.

Attempts are kept in the database (LoginFailure) by default, or in Django's cache
(CURATION_LOGIN_STORE=cache, shared when CACHE_URL points at Redis). The backend records an
attempt before it checks the password and refuses it when the attempt is one past a limit, so
N parallel guesses in N processes can't all slip under it; a successful log-in deletes that
username's attempts from that address. The middleware answers a locked log-in form with a 429
before the password is looked at (curation/middleware.py).

django-axes does most of this, but with one failure limit for every parameter: an address
limit as low as the per-account one would lock a whole office out after a few typos.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core import checks
from django.core.cache import cache

from curation.models import LoginFailure

SHARED_CACHES = ("redis.RedisCache", "memcached.PyMemcacheCache", "memcached.PyLibMCCache")
SHARED_CACHES += ("db.DatabaseCache",)


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


@dataclass(frozen=True)
class Who:
    """A log-in attempt's username and address, as the limits count them."""

    username: str
    address: str

    @classmethod
    def of(cls, request, username: str) -> Who:
        # NUL would make PostgreSQL refuse the row; the lengths are the columns'.
        name = str(username).strip().lower().replace("\x00", "")[:150]
        return cls(name, address_key(client_ip(request)))


def address_key(address: str) -> str:
    """The address as the limits count it: an IPv6 client by its /64, which one subscriber
    holds whole (counting single addresses would give it 2**64 tries), an IPv4-mapped IPv6
    address as the IPv4 one, any other text as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.replace("\x00", "")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Lock:
    seconds: int  # until the next attempt is allowed
    reason: str  # who is locked out, for the 429 page


def limits() -> dict[str, int]:
    return {
        "pair": settings.CURATION_LOGIN_MAX_FAILURES,
        "username": settings.CURATION_LOGIN_MAX_FAILURES_PER_USERNAME,
        "address": settings.CURATION_LOGIN_MAX_FAILURES_PER_ADDRESS,
    }


def reason(kind: str, who: Who) -> str:
    if kind == "pair":
        return f"Too many failed log-ins for '{who.username}' from your address."
    if kind == "username":
        return f"Too many failed log-ins for '{who.username}', from several addresses."
    return "Too many failed log-ins from your address, for several usernames."


def now() -> float:
    return time.time()


class DatabaseStore:
    """One LoginFailure row per attempt; rows older than the window are pruned as new ones
    come."""

    def add(self, who: Who, at: float) -> object:
        window = settings.CURATION_LOGIN_WINDOW_SECONDS
        LoginFailure.objects.filter(at__lt=as_datetime(at - window)).delete()
        return LoginFailure.objects.create(
            username=who.username, address=who.address, at=as_datetime(at)
        ).pk

    def withdraw(self, who: Who, handle: object) -> None:
        LoginFailure.objects.filter(pk=handle).delete()

    def forgive(self, who: Who) -> None:
        LoginFailure.objects.filter(username=who.username, address=who.address).delete()

    def unlocked_at(self, who: Who, kind: str, nth: int, at: float) -> float | None:
        """When the window no longer holds `nth` attempts of this kind; None if it doesn't."""
        window = settings.CURATION_LOGIN_WINDOW_SECONDS
        rows = LoginFailure.objects.filter(at__gte=as_datetime(at - window))
        if kind in ("pair", "username"):
            rows = rows.filter(username=who.username)
        if kind in ("pair", "address"):
            rows = rows.filter(address=who.address)
        found = list(rows.order_by("-at").values_list("at", flat=True)[nth - 1 : nth])
        return found[0].timestamp() + window if found else None


class CacheStore:
    """A counter per username, address and pair in Django's cache, from the first attempt
    for a window (a fixed window: Redis counts atomically, other caches nearly so)."""

    def keys(self, who: Who) -> dict[str, str]:
        values = {
            "pair": f"{who.username}|{who.address}",
            "username": who.username,
            "address": who.address,
        }
        return {
            kind: f"login-attempts:{kind}:" + hashlib.sha256(value.encode()).hexdigest()
            for kind, value in values.items()
        }

    def add(self, who: Who, at: float) -> object:
        window = settings.CURATION_LOGIN_WINDOW_SECONDS
        for key in self.keys(who).values():
            cache.add(f"{key}:since", at, timeout=window)
            if not cache.add(key, 1, timeout=window):
                try:
                    cache.incr(key)
                except ValueError:  # it expired between add() and incr()
                    cache.set(key, 1, timeout=window)
        return None

    def withdraw(self, who: Who, handle: object) -> None:
        for key in self.keys(who).values():
            with contextlib.suppress(ValueError):  # expired meanwhile
                cache.decr(key)

    def forgive(self, who: Who) -> None:
        key = self.keys(who)["pair"]
        cache.delete_many([key, f"{key}:since"])

    def unlocked_at(self, who: Who, kind: str, nth: int, at: float) -> float | None:
        key = self.keys(who)[kind]
        if (cache.get(key) or 0) < nth:
            return None
        return float(cache.get(f"{key}:since", at)) + settings.CURATION_LOGIN_WINDOW_SECONDS


def as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def store() -> DatabaseStore | CacheStore:
    return CacheStore() if settings.CURATION_LOGIN_STORE == "cache" else DatabaseStore()


def find_lock(who: Who, at: float, *, counting_this_one: bool = False) -> Lock | None:
    """The longest lock on this username/address, if any. With counting_this_one the
    current attempt is already recorded, so it is locked when it is one past a limit."""
    chosen = None
    backend = store()
    for kind, limit in limits().items():
        until = backend.unlocked_at(who, kind, limit + counting_this_one, at)
        if until is not None and until > at and (chosen is None or until > chosen[0]):
            chosen = (until, kind)
    if chosen is None:
        return None
    return Lock(max(1, math.ceil(chosen[0] - at)), reason(chosen[1], who))


def lock_for(request, username: str | None) -> Lock | None:
    """The lock a log-in for `username` from this request's address is under, if any."""
    if request is None or not username:
        return None
    return find_lock(Who.of(request, username), now())


class RateLimitedModelBackend(ModelBackend):
    """ModelBackend that counts each attempt and refuses one past a limit without checking
    the password, so guessing goes nowhere while locked, whichever login form is used."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username or kwargs.get("username")
        if request is None or not name:
            return super().authenticate(request, username=username, password=password, **kwargs)
        who, at, backend = Who.of(request, name), now(), store()
        handle = backend.add(who, at)
        if find_lock(who, at, counting_this_one=True):
            backend.withdraw(who, handle)  # refused unseen: it doesn't stretch the lock
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            backend.forgive(who)
        return user

    def get_all_permissions(self, user_obj, obj=None):
        """Through curation.auth_cache (the shared cache), not three queries a request."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        from curation.auth_cache import user_facts

        return user_facts(user_obj)["perms"]


@checks.register(checks.Tags.security, deploy=True)
def check_lockout_store_is_shared(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """With the cache store, every web process must see the same cache, or an attacker gets
    each process's limit, and a locked account logs in on another process."""
    if settings.CURATION_LOGIN_STORE != "cache":
        return []
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(SHARED_CACHES):
        return []
    return [
        checks.Warning(
            f"The login lockout is kept in {backend.rsplit('.', 1)[-1]}, which each web "
            "process (or machine) has to itself: each one counts failures on its own.",
            hint="Point CACHE_URL at Redis, or set CURATION_LOGIN_STORE=database.",
            id="curation.W001",
        )
    ]
