"""Users for the Django tests: the standing user of each role (an outsider in none), as
fixtures the conftest files take in, and `make_user` for the extra people a test needs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from curation.roles import ensure_role_groups


def make_user(name: str, role: str | None, *, password: str | None = None) -> User:
    """A user in `role`'s group (None: in no group); password "<name>-password" unless given."""
    user = User.objects.create_user(username=name, password=password or f"{name}-password")
    if role:
        user.groups.add(ensure_role_groups()[role])
    return user


def merchandisers(*names: str) -> list[User]:
    """One merchandiser per name, in that order (reviewers of a review queue)."""
    return [make_user(name, "merchandiser", password="x") for name in names]


@pytest.fixture
def viewer(db):
    return make_user("vera_viewer", "viewer")


@pytest.fixture
def merchandiser(db):
    return make_user("max_merch", "merchandiser")


@pytest.fixture
def data_scientist(db):
    return make_user("dana_ds", "data_scientist")


@pytest.fixture
def outsider(db):
    return make_user("olga_outsider", None)
