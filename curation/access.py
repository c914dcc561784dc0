"""One access helper per object: 404 when it doesn't exist (or sits in a dataset the user may
not see), 403 when the user's role may not do what they asked.

Per-dataset access: a dataset with no teams is open to everyone with a role; one limited to
teams (Dataset.teams, groups that are not roles) is seen only by their members and by
superusers. visible_datasets() is the one copy of that rule; every get_*_for_user helper and
every list filters through it, and a dataset the user may not see is a 404, as if it did not
exist.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from curation import roles
from curation.auth_cache import user_facts
from curation.models import (
    Attribute,
    Dataset,
    GoldItem,
    Image,
    ImportJob,
    LabelEvent,
    ReviewItem,
    SavedView,
    TrainingRun,
)

ROLE_GROUPS = ("viewer", "merchandiser", "data_scientist", "admin")


def can_view(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if not user.is_active:
        return False
    return not user_facts(user)["roles"].isdisjoint(ROLE_GROUPS)


def require_viewer(request) -> None:
    if not can_view(request.user):
        raise PermissionDenied("your account has no role yet; ask an admin to add you to a group")


def require_perm(request, action: str) -> None:
    """403 unless the user has a role and that role may do `action` (see curation.roles)."""
    require_viewer(request)
    roles.check(request.user, action)


def visible_datasets(user) -> QuerySet[Dataset]:
    """The datasets `user` may see: all for a superuser, none without a role, else the open
    ones (no teams) and those limited to a team the user is in."""
    if not can_view(user):
        return Dataset.objects.none()
    live = Dataset.objects.filter(deleting_since__isnull=True)  # a deleted one is gone at once
    if user.is_superuser:
        return live
    teams = Dataset.teams.through.objects.filter(dataset_id=OuterRef("pk"))
    mine = teams.filter(group__name__in=user_facts(user)["roles"])
    return live.filter(~Exists(teams) | Exists(mine))


def visible(user, rows: QuerySet, field: str = "dataset") -> QuerySet:
    """`rows` limited to those whose `field` (a path to a Dataset) the user may see."""
    if user.is_superuser and can_view(user):
        return rows.filter(**{f"{field}__deleting_since__isnull": True})
    return rows.filter(**{f"{field}__in": visible_datasets(user).values("pk")})


def is_hidden_dataset(user, name: str) -> bool:
    """Whether a dataset called `name` exists but `user` may not see it."""
    rows = Dataset.objects.filter(name=name)
    return rows.exists() and not visible_datasets(user).filter(name=name).exists()


def get_dataset_for_user(request, name: str) -> Dataset:
    require_viewer(request)
    try:
        return visible_datasets(request.user).get(name=name)
    except Dataset.DoesNotExist:
        raise Http404(f"There is no dataset called '{name}'.") from None


def get_attribute_for_user(request, name: str, attribute: str) -> Attribute:
    """The attribute with its dataset and promoted run, in one query; a miss then says
    whether the dataset or the attribute is what does not exist."""
    require_viewer(request)
    try:
        return (
            visible(request.user, Attribute.objects.select_related("dataset", "promoted__run"))
            .defer(*(f"promoted__run__{f}" for f in TrainingRun.HEAVY_FIELDS))
            .get(dataset__name=name, name=attribute)
        )
    except Attribute.DoesNotExist:
        dataset = get_dataset_for_user(request, name)
        names = ", ".join(dataset.attributes.values_list("name", flat=True)) or "none yet"
        raise Http404(
            f"Dataset '{name}' has no attribute '{attribute}' (it has: {names})."
        ) from None


def _get_or_404(request, rows: QuerySet, pk: int, missing: str):
    """The row `pk` of `rows` for a user with a role; 404 saying `missing` otherwise."""
    require_viewer(request)
    try:
        return rows.get(pk=pk)
    except ObjectDoesNotExist:
        raise Http404(missing) from None


def get_review_item_for_user(request, item_id: int) -> ReviewItem:
    rows = ReviewItem.objects.select_related("run__dataset", "attribute", "image")
    rows = visible(request.user, rows, "run__dataset")
    return _get_or_404(request, rows, item_id, f"There is no review item #{item_id}.")


def get_gold_for_user(request, gold_id: int) -> GoldItem:
    rows = GoldItem.objects.select_related("attribute__dataset", "image", "answer")
    rows = visible(request.user, rows, "attribute__dataset")
    return _get_or_404(request, rows, gold_id, f"There is no review item #{gold_id}.")


def get_image_for_user(request, image_id: int) -> Image:
    rows = visible(request.user, Image.objects.select_related("dataset", "product"))
    return _get_or_404(request, rows, image_id, f"There is no image #{image_id}.")


def get_event_for_user(request, event_id: int) -> LabelEvent:
    rows = LabelEvent.objects.select_related("image", "attribute", "old_label", "new_label")
    rows = visible(request.user, rows, "image__dataset")
    return _get_or_404(request, rows, event_id, f"There is no label change #{event_id}.")


def get_saved_view_for_user(request, name: str, view_id: int) -> SavedView:
    rows = visible(request.user, SavedView.objects.select_related("dataset", "owner"))
    rows = rows.filter(dataset__name=name)
    return _get_or_404(request, rows, view_id, f"Dataset '{name}' has no saved view #{view_id}.")


def get_import_job_for_user(request, job_id: int) -> ImportJob:
    rows = visible_import_jobs(request.user)
    return _get_or_404(request, rows, job_id, f"There is no import #{job_id}.")


def get_run_for_user(request, run_id: int) -> TrainingRun:
    rows = TrainingRun.objects.select_related("dataset", "attribute", "created_by")
    rows = visible(request.user, rows)
    return _get_or_404(request, rows, run_id, f"There is no training run #{run_id}.")


def visible_import_jobs(user) -> QuerySet[ImportJob]:
    """Import jobs name their dataset, not point to it: a job into a dataset the user may not
    see is hidden; one whose dataset does not exist yet (or any more) is not."""
    rows = ImportJob.objects.all()
    if user.is_superuser and can_view(user):
        return rows
    hidden = Dataset.objects.exclude(pk__in=visible_datasets(user).values("pk"))
    return rows.exclude(dataset_name__in=hidden.values("name"))
