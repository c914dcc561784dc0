"""Permissions and roles from the shared cache: no queries once cached, and every change made
through Django (membership, a group's or a user's permissions, a group deleted) shows at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.access import can_view


@pytest.fixture
def shared(settings):
    """This process's cache plays the shared one (Redis in production)."""
    settings.SHARED_CACHE = True


def _fresh(user: User) -> User:
    """A new request's user object (nothing remembered on it)."""
    return User.objects.get(pk=user.pk)


def test_a_second_request_asks_the_database_nothing(shared, merchandiser):
    first = _fresh(merchandiser)
    assert first.has_perm("curation.relabel_image") and can_view(first)
    again = _fresh(merchandiser)
    with CaptureQueriesContext(connection) as queries:
        assert again.has_perm("curation.relabel_image") and can_view(again)
        assert not again.has_perm("curation.start_training")
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_without_a_shared_cache_every_request_asks_the_database(settings, merchandiser):
    settings.SHARED_CACHE = False
    assert _fresh(merchandiser).has_perm("curation.relabel_image")
    with CaptureQueriesContext(connection) as queries:
        assert _fresh(merchandiser).has_perm("curation.relabel_image")
    assert len(queries) >= 2  # the user, then its permissions


def test_changes_through_django_show_at_the_next_request(shared, merchandiser, viewer):
    assert _fresh(merchandiser).has_perm("curation.relabel_image")
    assert not _fresh(viewer).has_perm("curation.relabel_image") and can_view(_fresh(viewer))
    # A user moved between roles.
    viewer.groups.set([Group.objects.get(name="merchandiser")])
    assert _fresh(viewer).has_perm("curation.relabel_image")
    # A permission taken from a group.
    relabel = Permission.objects.get(codename="relabel_image")
    Group.objects.get(name="merchandiser").permissions.remove(relabel)
    assert not _fresh(merchandiser).has_perm("curation.relabel_image")
    # A permission given to one user.
    merchandiser.user_permissions.add(relabel)
    assert _fresh(merchandiser).has_perm("curation.relabel_image")
    # A role deleted: its members have no role left.
    Group.objects.get(name="merchandiser").delete()
    assert not can_view(_fresh(viewer))
    # Made superuser: everything.
    User.objects.filter(pk=viewer.pk).update(is_superuser=True)
    assert _fresh(viewer).has_perm("curation.start_training")


def test_an_inactive_user_has_nothing(shared, merchandiser):
    assert _fresh(merchandiser).has_perm("curation.relabel_image")
    User.objects.filter(pk=merchandiser.pk).update(is_active=False)
    user = _fresh(merchandiser)
    assert not user.has_perm("curation.relabel_image") and not can_view(user)


def test_the_page_header_names_the_roles_without_asking_the_database(shared, merchandiser):
    from django.template import Context, Template

    user = _fresh(merchandiser)
    assert can_view(user)  # the request's permission check loads the facts
    header = Template("{% load curation_tags %}{% for r in user|roles %}[{{ r }}]{% endfor %}")
    with CaptureQueriesContext(connection) as queries:
        assert header.render(Context({"user": user})) == "[merchandiser]"
    assert len(queries) == 0, [q["sql"] for q in queries]
