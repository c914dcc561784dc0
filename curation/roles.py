"""Roles and what each may do, in one place: the groups, the permission behind each action,
and the message a user sees when their role falls short.

Roles are Django groups with the app's permissions (created by migration 0003);
ensure_role_groups() recreates them when missing, e.g. after a test flushed the database or
an admin deleted one by mistake. Services call `check(actor, action)`; views call
access.require_perm(request, action), which adds the "has a role at all" check.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

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
MERCHANDISER = "merchandiser or above needed"
DATA_SCIENTIST = "data scientist needed"
DATA_SCIENTIST_OR_ADMIN = "data scientist or admin needed"

# action -> (permission codename, what the role cannot do and who can)
ACTIONS: dict[str, tuple[str, str]] = {
    "relabel": ("relabel_image", f"change labels ({MERCHANDISER})"),
    "revert": ("relabel_image", f"revert label changes ({MERCHANDISER})"),
    "edit_boxes": ("relabel_image", f"edit boxes ({MERCHANDISER})"),
    "tag": ("relabel_image", f"tag images ({MERCHANDISER})"),
    "vote": ("review_label", f"vote in reviews ({MERCHANDISER})"),
    "judge": ("review_label", f"judge look-alikes ({MERCHANDISER})"),
    "decide": ("decide_review", f"decide reviews ({DATA_SCIENTIST})"),
    "assign_reviews": ("decide_review", f"assign review batches ({DATA_SCIENTIST})"),
    "mark_gold": ("decide_review", f"mark gold review items ({DATA_SCIENTIST})"),
    "train": ("start_training", f"start training runs ({DATA_SCIENTIST})"),
    "build_index": ("start_training", f"build indexes ({DATA_SCIENTIST})"),
    "score_images": ("start_training", f"score images with the promoted model ({DATA_SCIENTIST})"),
    "queue_suspects": ("start_training", f"add suspects to the review queue ({DATA_SCIENTIST})"),
    "scan_images": (
        "manage_dataset",
        f"scan images for quality issues ({DATA_SCIENTIST_OR_ADMIN})",
    ),
    "import": ("manage_dataset", f"import catalogs ({DATA_SCIENTIST_OR_ADMIN})"),
    "schedule_sync": (
        "manage_dataset",
        f"schedule a dataset's re-sync ({DATA_SCIENTIST_OR_ADMIN})",
    ),
    "import_answers": ("manage_dataset", f"import crowd answers ({DATA_SCIENTIST})"),
    "move_split": ("manage_dataset", f"move products between splits ({DATA_SCIENTIST_OR_ADMIN})"),
    "quarantine": ("manage_dataset", f"quarantine images ({DATA_SCIENTIST_OR_ADMIN})"),
    "order_labels": ("manage_dataset", f"change the label order ({DATA_SCIENTIST_OR_ADMIN})"),
    "export": ("start_training", f"build zip exports of a dataset ({DATA_SCIENTIST})"),
    "delete_dataset": ("manage_dataset", f"delete datasets ({DATA_SCIENTIST_OR_ADMIN})"),
    "auto_accept": ("start_training", f"set or apply auto-accept of model tags ({DATA_SCIENTIST})"),
}


def may(user, action: str) -> bool:
    """Whether `user` (None: nobody) may do `action` (a key of ACTIONS)."""
    codename, _ = ACTIONS[action]
    return bool(user is not None and user.has_perm(f"curation.{codename}"))


def check(user, action: str) -> None:
    """PermissionDenied with the action's message unless `user` may do it."""
    if not may(user, action):
        raise PermissionDenied(f"your role cannot {ACTIONS[action][1]}")


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
