"""The data-health page of a dataset: near-duplicate photos across the train/test split with
one-click fixes, and duplicates within a split whose labels disagree."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_dataset_for_user, require_perm
from curation.models import Attribute, Dataset, Image, Split
from curation.queries import health
from curation.services.health import move_image_product, quarantine_image
from curation.views.image_quality import panel_for
from curation.views.nav import back_to

PAGE = 20  # pairs per page

# fix -> (which side of the pair it acts on, what it does)
FIXES = {
    "move-test": ("test", "move"),  # the test image's product joins train
    "move-train": ("train", "move"),  # the train image's product joins test
    "quarantine-test": ("test", "quarantine"),
    "quarantine-train": ("train", "quarantine"),
}


@dataclass
class PairRow:
    left: health.Side  # a leaked pair: the train side; a conflict: the lower id
    right: health.Side
    distance: int
    disagree: list[str]  # attribute names (conflicts only)

    @property
    def key(self) -> str:
        return f"{self.left.image.pk}-{self.right.image.pk}"


def _radius(query) -> int:
    return params.int_param(query, "radius", high=health.MAX_RADIUS, default=health.DEFAULT_RADIUS)


def _rows(dataset: Dataset, pairs, names: dict[int, str]) -> list[PairRow]:
    """One page of (a, b, distance) or Conflicts as rows with both images and their labels."""
    plain = [
        (p.a, p.b, p.distance, p.attributes) if isinstance(p, health.Conflict) else (*p, ())
        for p in pairs
    ]
    found = health.sides([i for a, b, _, _ in plain for i in (a, b)], dataset)
    return [
        PairRow(found[a], found[b], d, [names[k] for k in attrs if k in names])
        for a, b, d, attrs in plain
        if a in found and b in found
    ]


@require_GET
@login_required
def data_health(request, name: str):
    dataset = get_dataset_for_user(request, name)
    radius = _radius(request.GET)
    report = health.health(dataset, radius=radius)
    names = dict(Attribute.objects.filter(dataset=dataset).values_list("id", "name"))
    leaked = Paginator(report.search.leaked, PAGE).get_page(
        params.int_param(request.GET, "page", low=1, default=1)
    )
    conflicts = Paginator(report.conflicts, PAGE).get_page(
        params.int_param(request.GET, "cpage", low=1, default=1)
    )
    context = {
        "dataset": dataset,
        "radius": radius,
        "default_radius": health.DEFAULT_RADIUS,
        "max_group": health.MAX_GROUP,
        "max_neighbours": health.MAX_NEIGHBOURS,
        "report": report,
        "leaked": leaked,
        "leaked_rows": _rows(dataset, leaked.object_list, names),
        "conflicts": conflicts,
        "conflict_rows": _rows(dataset, conflicts.object_list, names),
        "can_move": roles.may(request.user, "move_split"),
        "can_quarantine": roles.may(request.user, "quarantine"),
        # Image-quality findings (dark, blurry, odd sizes): the CleanVision scan's panel.
        **panel_for(request, dataset),
    }
    return render(request, "curation/data_health.html", context)


def _posted_image(dataset: Dataset, form, side: str) -> Image:
    pk = params.id_param(form, side)
    if pk is None:
        raise params.BadParameter(side, f"{side} must name the {side} image of the pair")
    image = Image.objects.select_related("dataset", "product").filter(pk=pk).first()
    if image is None or image.dataset_id != dataset.pk:
        raise Http404(f"Dataset '{dataset.name}' has no image #{pk} ({side} side of the pair).")
    return image


@require_POST
@login_required
def data_health_fix(request, name: str):
    """One click on a leaked pair: move one image's product to the other split, or quarantine
    one image. Gives back the pair's row, now saying what was done."""
    dataset = get_dataset_for_user(request, name)
    fix = request.POST.get("fix", "")
    if fix not in FIXES:
        return HttpResponseBadRequest(f"'{fix[:30]}' is not a fix (one of {', '.join(FIXES)}).")
    side, verb = FIXES[fix]
    require_perm(request, "move_split" if verb == "move" else "quarantine")
    radius = _radius(request.POST)
    train = _posted_image(dataset, request.POST, "train")
    test = _posted_image(dataset, request.POST, "test")
    target = train if side == "train" else test
    back = back_to(request, reverse("curation:data_health", args=[dataset.name]))
    pair_key = f"{train.pk}-{test.pk}"
    error, done = None, ""
    leaked = health.search(dataset, radius=radius).leaked
    if not any(a == train.pk and b == test.pk for a, b, _ in leaked):
        error = (
            f"Images #{train.pk} and #{test.pk} are no longer a leaked pair "
            "(already fixed, or not within the radius): nothing was changed."
        )
    else:
        reason = request.POST.get("reason", "").strip() or (
            f"near-duplicate of image #{(test if target is train else train).pk} "
            f"across the split (data-health page)"
        )
        try:
            done = _apply(verb, target, reason, request.user)
        except (ValueError, PermissionDenied) as exc:
            error = f"Not fixed: {exc}."
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(back)
    context = {"key": pair_key, "error": error, "done": done}
    return render(request, "curation/data_health.html#fixed", context, status=409 if error else 200)


def _apply(verb: str, image: Image, reason: str, actor) -> str:
    """Run the fix; returns what was done, in words."""
    if verb == "move":
        to_split = Split.TRAIN if image.split == Split.TEST else Split.TEST
        move_image_product(image=image, to_split=to_split, reason=reason, actor=actor)
        return f"Moved product {image.product.key} (image #{image.pk}) to {to_split}."
    quarantine_image(image=image, reason=reason, actor=actor)
    return f"Quarantined image #{image.pk} ({image.source_path})."
