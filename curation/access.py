"""One access helper per object: 404 when it doesn't exist, 403 when the user may not see it."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from curation import roles
from curation.auth_cache import user_facts
from curation.models import (
    Attribute,
    Dataset,
    Image,
    ImportJob,
    LabelEvent,
    ReviewItem,
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


def get_dataset_for_user(request, name: str) -> Dataset:
    require_viewer(request)
    try:
        return Dataset.objects.get(name=name)
    except Dataset.DoesNotExist:
        raise Http404(f"There is no dataset called '{name}'.") from None


def get_attribute_for_user(request, name: str, attribute: str) -> Attribute:
    """The attribute with its dataset and promoted run, in one query; a miss then says
    whether the dataset or the attribute is what does not exist."""
    require_viewer(request)
    try:
        return (
            Attribute.objects.select_related("dataset", "promoted__run")
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
    return _get_or_404(request, rows, item_id, f"There is no review item #{item_id}.")


def get_image_for_user(request, image_id: int) -> Image:
    rows = Image.objects.select_related("dataset", "product")
    return _get_or_404(request, rows, image_id, f"There is no image #{image_id}.")


def get_event_for_user(request, event_id: int) -> LabelEvent:
    rows = LabelEvent.objects.select_related("image", "attribute", "old_label", "new_label")
    return _get_or_404(request, rows, event_id, f"There is no label change #{event_id}.")


def get_import_job_for_user(request, job_id: int) -> ImportJob:
    rows = ImportJob.objects.all()
    return _get_or_404(request, rows, job_id, f"There is no import #{job_id}.")


def get_run_for_user(request, run_id: int) -> TrainingRun:
    rows = TrainingRun.objects.select_related("dataset", "attribute", "created_by")
    return _get_or_404(request, rows, run_id, f"There is no training run #{run_id}.")
