"""Roles are Django groups with the app's permissions (created by migration 0003).

ensure_role_groups() recreates them when missing, e.g. after a test flushed the database or
an admin deleted one by mistake.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

ROLES: dict[str, list[str]] = {
    "viewer": [],
    "merchandiser": ["relabel_image", "review_label"],
    "data_scientist": [
        "relabel_image",
        "review_label",
        "decide_review",
        "start_training",
        "manage_dataset",
    ],
    "admin": ["relabel_image", "review_label", "decide_review", "start_training", "manage_dataset"],
}


def ensure_role_groups() -> dict[str, Group]:
    groups = {}
    for role, codenames in ROLES.items():
        group, created = Group.objects.get_or_create(name=role)
        if created or group.permissions.count() != len(codenames):
            group.permissions.set(
                Permission.objects.filter(
                    content_type__app_label="curation", codename__in=codenames
                )
            )
        groups[role] = group
    return groups
