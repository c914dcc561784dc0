"""The embedding map of a dataset: a canvas (static/js/embedding_map.js) of the current
map's points coloured by label, prediction or correctness, a lasso that saves the points
inside it as a selection and opens it as a gallery, and the buttons that build a map."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_dataset_for_user, require_perm
from curation.models import Annotation, Attribute, EmbeddingMap, Image, MapSelection, TrainingRun
from curation.queries import embedding_maps
from curation.services.embedding_maps import MapError, save_map_selection, start_embedding_map
from curation.views.lookup import first_or_404

SELECTION_PAGE = 48


def _attribute(dataset, name: str | None) -> Attribute | None:
    attributes = list(dataset.attributes.order_by("position", "id"))
    if not name:
        return attributes[0] if attributes else None
    found = next((a for a in attributes if a.name == name), None)
    if found is None:
        raise params.BadParameter("attribute", f"'{name}' is not an attribute of {dataset.name}.")
    return found


def _mode(request) -> str:
    mode = request.GET.get("colour") or "label"
    if mode not in embedding_maps.COLOUR_MODES:
        choices = ", ".join(embedding_maps.COLOUR_MODES)
        raise params.BadParameter("colour", f"'{mode}' is not a colouring ({choices}).")
    return mode


def _map_of(dataset, map_id: int) -> EmbeddingMap:
    rows = EmbeddingMap.objects.filter(
        dataset=dataset, pk=map_id, status=EmbeddingMap.Status.READY
    ).select_related("run")
    return first_or_404(rows, f"Map #{map_id} is not a finished map of {dataset.name}.")


@require_GET
@login_required
def map_page(request, name: str):
    dataset = get_dataset_for_user(request, name)
    emap = embedding_maps.current_map(dataset)
    attribute = _attribute(dataset, request.GET.get("attribute"))
    runs = TrainingRun.objects.filter(
        dataset=dataset, kind=TrainingRun.Kind.CLASSIFIER, status=TrainingRun.Status.SUCCEEDED
    ).select_related("attribute")
    context = {
        "dataset": dataset,
        "map": emap,
        "attribute": attribute,
        "attributes": list(dataset.attributes.order_by("position", "id")),
        "colour": _mode(request),
        "modes": embedding_maps.COLOUR_MODES,
        "can_build": roles.may(request.user, "build_index"),
        "has_index": dataset.indexes.filter(status="ready").exists(),
        "runs": list(runs.defer(*TrainingRun.HEAVY_FIELDS).order_by("-id")[:20]),
        "building": EmbeddingMap.objects.filter(
            dataset=dataset, status__in=[EmbeddingMap.Status.QUEUED, EmbeddingMap.Status.BUILDING]
        ).first(),
        "failed": EmbeddingMap.objects.filter(dataset=dataset).order_by("-id").first(),
    }
    return render(request, "curation/embedding_map.html", context)


@require_POST
@login_required
def map_build(request, name: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "build_index")
    source, run = request.POST.get("source", ""), None
    if source == EmbeddingMap.Source.CLASSIFIER:
        run_id = params.id_param(request.POST, "run")
        run = TrainingRun.objects.filter(dataset=dataset, pk=run_id or -1).first()
    try:
        start_embedding_map(dataset=dataset, actor=request.user, source=source, run=run)
    except MapError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, "Map queued on the cpu queue; this page shows it when it is done.")
    return redirect(reverse("curation:embedding_map", args=[dataset.name]))


@require_GET
@login_required
def map_points(request, name: str, map_id: int):
    dataset = get_dataset_for_user(request, name)
    emap = _map_of(dataset, map_id)
    attribute = _attribute(dataset, request.GET.get("attribute"))
    if attribute is None:
        raise params.BadParameter("attribute", f"{dataset.name} has no attributes to colour by.")
    codes, legend = embedding_maps.point_colours(emap, attribute, _mode(request))
    return JsonResponse(embedding_maps.points_payload(emap, codes, legend))


@require_POST
@login_required
def map_lasso(request, name: str, map_id: int):
    """Body: {"polygon": [[x, y], ...]} in the map's unit square. Answers the selection's
    gallery URL (JSON), which the page then opens."""
    dataset = get_dataset_for_user(request, name)
    emap = _map_of(dataset, map_id)
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise params.BadParameter(
            "polygon", 'The body must be JSON: {"polygon": [[x, y], ...]}.'
        ) from None
    try:
        selection = save_map_selection(
            emap=emap,
            polygon_raw=(body or {}).get("polygon") if isinstance(body, dict) else None,
            actor=request.user,
        )
    except MapError as exc:
        raise params.BadParameter("polygon", str(exc)) from None
    url = reverse("curation:map_selection", args=[dataset.name, selection.pk])
    return JsonResponse({"selection": selection.pk, "count": len(selection.image_ids), "url": url})


@require_GET
@login_required
def map_selection(request, name: str, selection_id: int):
    dataset = get_dataset_for_user(request, name)
    selection = first_or_404(
        MapSelection.objects.filter(pk=selection_id, map__dataset=dataset).select_related("map"),
        f"Selection #{selection_id} is not a map selection of {dataset.name}.",
    )
    page = Paginator(selection.image_ids, SELECTION_PAGE).get_page(request.GET.get("page"))
    ids = list(page.object_list)
    by_id = {im.pk: im for im in Image.objects.filter(dataset=dataset, pk__in=ids)}
    labels: dict[int, list[str]] = {}
    for image_id, attr, label in (
        Annotation.objects.filter(image_id__in=ids, label__isnull=False)
        .order_by("attribute__position", "attribute_id")
        .values_list("image_id", "attribute__name", "label__name")
    ):
        labels.setdefault(image_id, []).append(f"{attr}: {label}")
    images = [by_id[i] for i in ids if i in by_id]
    for im in images:
        im.label_text = labels.get(im.pk, [])  # type: ignore[attr-defined]
    context = {"dataset": dataset, "selection": selection, "page": page, "images": images}
    return render(request, "curation/map_selection.html", context)
