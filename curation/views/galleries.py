"""Which QA gallery a request means (run, split, filter), and an image's place in it: the
gallery page reads its filter here, and the image page, opened from a tile with the
gallery's query and the tile's position, finds its previous and next image in the same
order by keyset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from curation import params
from curation.models import Attribute, Image, Label, Split, TrainingRun
from curation.queries import quality

# A gallery's filter parameters (the gallery page's names; the image page reads the same).
FILTER_KEYS = ("split", "given", "predicted", "fp", "fn")


def run_for(attribute: Attribute, run_id: int | None) -> TrainingRun | None:
    """The run `run_id` (read by params.id_param from ?run=; it must be a finished classifier
    run of this attribute), else the default run."""
    if run_id is None:
        return quality.default_run(attribute)
    promoted = getattr(attribute, "promoted", None)  # loaded with the attribute, with its run
    if promoted is not None and promoted.run_id == run_id:
        run = promoted.run
        if run.kind == TrainingRun.Kind.CLASSIFIER and run.status == TrainingRun.Status.SUCCEEDED:
            run.attribute = attribute
            return run
    run = quality.classifier_runs(attribute).filter(pk=run_id).select_related("attribute").first()
    if run is None:
        raise Http404(f"Run #{run_id} is not a finished run of {attribute.name}.")
    return run


def split_param(query: Mapping[str, Any]) -> str:
    split = query.get("split") or Split.TEST
    if split not in Split.values:
        raise Http404(f"'{split}' is not a split (train or test).")
    return split


def _label_param(query: Mapping[str, Any], key: str, labels: dict[int, Label]) -> int | None:
    label_id = params.id_param(query, key)
    if label_id is not None and label_id not in labels:
        raise Http404(f"'{label_id}' is not a label of this attribute ({key}).")
    return label_id


def gallery_filter(query: Mapping[str, Any], labels: dict[int, Label]) -> quality.GalleryFilter:
    return quality.GalleryFilter(
        split=split_param(query),
        given=_label_param(query, "given", labels),
        predicted=_label_param(query, "predicted", labels),
        false_positives_of=_label_param(query, "fp", labels),
        false_negatives_of=_label_param(query, "fn", labels),
    )


def gallery_query(run_id: int, query: Mapping[str, Any]) -> dict[str, str]:
    """The gallery's own parameters out of a query (run first, then the filter's)."""
    kept = {key: str(query[key]) for key in FILTER_KEYS if query.get(key)}
    return {"run": str(run_id), **kept}


def from_query(attribute_name: str, run_id: int, query: Mapping[str, Any]) -> str:
    """The query an image page gets from a tile: which gallery it was opened from."""
    return urlencode({"gallery": attribute_name, **gallery_query(run_id, query)})


def from_page_url(attribute_name: str, run_id: int, page_url: str) -> str:
    """from_query() of the gallery page at `page_url` (a swapped tile knows only its page)."""
    return from_query(attribute_name, run_id, QueryDict(urlsplit(page_url).query))


def attach_open_urls(rows: list, from_: str, first_position: int | None) -> None:
    """row.position (1 for the gallery's first image; None when unknown) and row.page_url
    with the gallery's context, for rows that have their bare page_url (attach_tile_urls)."""
    for i, row in enumerate(rows):
        row.position = None if first_position is None else first_position + i
        at = "" if row.position is None else f"&n={row.position}"
        row.page_url = f"{row.page_url}?{from_}{at}"


def image_nav(request, image: Image) -> dict | None:
    """The image page's way through the gallery it was opened from (?gallery=<attribute>
    with that gallery's run and filter, ?n=<position>): previous, next, "n of N" and the way
    back. None without a gallery, or when the image isn't in it."""
    name = request.GET.get("gallery")
    if not name:
        return None
    attr = (
        Attribute.objects.select_related("dataset", "promoted__run")
        .defer(*(f"promoted__run__{f}" for f in TrainingRun.HEAVY_FIELDS))
        .filter(dataset_id=image.dataset_id, name=name)
        .first()
    )
    if attr is None:
        raise params.BadParameter(
            "gallery", f"'{name}' is not an attribute of this image's dataset."
        )
    run = run_for(attr, params.id_param(request.GET, "run"))
    if run is None:
        return None
    labels = {lab.pk: lab for lab in quality.current_labels(attr)}
    flt = gallery_filter(request.GET, labels)
    found = quality.gallery_neighbours(run, flt, image.pk)
    if found is None:
        return None
    total = quality.gallery_total(run, flt)
    n = params.int_param(request.GET, "n", low=1)
    position = n if n is not None and n <= total else None
    ctx = from_query(attr.name, run.pk, request.GET)
    back = dict(gallery_query(run.pk, request.GET))
    cursor = found.cursor_before()
    if cursor is not None and position is not None:
        back.update(after=cursor, at=str(position - 1))  # a page that starts with this image
    gallery_url = reverse("curation:gallery", args=[attr.dataset.name, attr.name])
    return {
        "attribute": attr,
        "title": flt.describe({pk: lab.name for pk, lab in labels.items()}),
        "position": position,
        "total": total,
        "previous": _neighbour_url(found.previous, ctx, position, -1),
        "next": _neighbour_url(found.next, ctx, position, +1),
        "back": f"{gallery_url}?{urlencode(back)}#tile-{image.pk}",
    }


def _neighbour_url(row, ctx: str, position: int | None, step: int) -> str | None:
    if row is None:
        return None
    url = f"{reverse('curation:image_detail', args=[row.image_id])}?{ctx}"
    return url if position is None else f"{url}&n={position + step}"
