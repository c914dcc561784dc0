"""A user's permissions and roles, read from the shared cache instead of three queries a request.

Every page asks whether the user has a role and what they may do; the database answers with
three joins each time. With a cache every process shares (settings.SHARED_CACHE, Redis), the
answer is kept per user, stamped with a global version. Any change made through Django (the admin,
ensure_role_groups, a management command) to group membership, a user's own permissions, a
group's permissions, or a group or permission row bumps the version, so the next request
reads fresh facts. A change made behind Django's back (raw SQL) shows within FACTS_TTL.

A per-process cache can't be invalidated from another process, so without a shared cache
this does nothing and every request asks the database, as Django does by default.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save

VERSION_KEY = "auth-facts:version"
FACTS_TTL = 300  # seconds: the backstop for changes made outside the ORM


def _version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, None)
        version = cache.get(VERSION_KEY, 1)
    return int(version)


def bump_version(**_kwargs) -> None:
    """Signal receiver: every cached user fact is out of date."""
    if cache.add(VERSION_KEY, 2, None):
        return
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # evicted between add() and incr()
        cache.add(VERSION_KEY, 2, None)


def _load(user) -> dict:
    from django.contrib.auth.backends import ModelBackend

    return {
        "perms": ModelBackend().get_all_permissions(user),
        "roles": frozenset(user.groups.values_list("name", flat=True)),
    }


def user_facts(user) -> dict:
    """{"perms": {"app.codename", …}, "roles": {group name, …}} of an active, logged-in user;
    kept on the user object for the rest of the request."""
    facts = getattr(user, "_curation_auth_facts", None)
    if facts is not None:
        return facts
    if not getattr(settings, "SHARED_CACHE", False):
        facts = _load(user)
    else:
        # One round trip: the version and the user's entry, which holds the version it was
        # loaded under; an entry from before the last bump is stale.
        key = f"auth-facts:{user.pk}:{int(user.is_superuser)}"
        found = cache.get_many([VERSION_KEY, key])
        version = int(found[VERSION_KEY]) if VERSION_KEY in found else _version()
        entry = found.get(key)
        if entry is not None and entry[0] == version:
            facts = entry[1]
        else:
            facts = _load(user)
            cache.set(key, (version, facts), FACTS_TTL)
    user._curation_auth_facts = facts
    return facts


def connect_signals() -> None:
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(bump_version, sender=through, dispatch_uid=f"auth-facts-{through}")
    for model in (Group, Permission):
        post_save.connect(bump_version, sender=model, dispatch_uid=f"auth-facts-save-{model}")
        post_delete.connect(bump_version, sender=model, dispatch_uid=f"auth-facts-del-{model}")
