"""QA pages of one attribute: the per-class dashboard with its confusion matrix, the error
galleries behind every number, relabelling from a gallery (one, many, undo), and run
comparison."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import (
    get_attribute_for_user,
    get_event_for_user,
    get_image_for_user,
    require_perm,
    require_viewer,
    visible,
)
from curation.models import Attribute, Image, Label, RunImage, Split, TrainingRun
from curation.queries import health, payoff, quality
from curation.queries.strength import run_strength
from curation.services.labels import (
    REASON_MAX,
    BadReason,
    StaleLabel,
    clean_reason,
    relabel_image,
    relabel_images,
    revert_label_event,
)
from curation.views.galleries import (
    attach_open_urls,
    from_page_url,
    from_query,
    gallery_filter,
    run_for,
    split_param,
)
from curation.views.nav import back_to


@require_GET
@login_required
def dashboard(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    run = run_for(attr, params.id_param(request.GET, "run"))
    split, normalise = split_param(request.GET), request.GET.get("norm") == "row"
    context = {"dataset": attr.dataset, "attribute": attr, "run": run, "split": split}
    # The panel of what curation bought loads after the page (it re-scores the run before
    # on today's labels); ?bought=1 renders it in place, for a page without JS.
    if run is not None and request.GET.get("bought"):
        context["bought"] = payoff.payoff(attr)
        if request.htmx and request.htmx.target == "bought":
            return render(request, "curation/quality.html#bought", context)
    if run is not None:
        context["runs"] = quality.run_choices(attr)
        context["normalise"] = normalise
        context["board_html"] = _board_html(attr, run, split, normalise)
        context["strength"] = run_strength(run)
    context.update(_leakage(attr, run))
    return render(request, "curation/quality.html", context)


def _leakage(attr: Attribute, run: TrainingRun | None) -> dict:
    """Test images that are near-copies of training images (the data-health search: cached,
    or run here on a small catalog), and the run's test numbers with and without them."""
    found = health.search_if_cheap(attr.dataset)
    if found is None:
        return {"leaked_test": 0, "leak_unchecked": True}
    leaked = found.leaked_test_ids
    if not leaked:
        return {"leaked_test": 0}
    effect = None
    if run is not None:
        labels = quality.current_labels(attr)
        confusion = quality.dashboard(run, Split.TEST, labels).confusion
        effect = health.leak_effect(run, confusion, labels, leaked)
    return {"leaked_test": len(leaked), "leak": effect}


BOARD_CACHE_SECONDS = 24 * 3600


def _board_html(attr: Attribute, run: TrainingRun, split: str, normalise: bool) -> str:
    """The KPIs, per-class table, F1 chart and confusion matrix, rendered once per key (most
    of the page's cost: a matrix cell is a link) and then served from the cache."""
    labels = quality.current_labels(attr)
    key = quality.board_cache_key(run, attr, split, normalise, labels)
    html = cache.get(key) if key else None
    if html is None:
        context = {
            "dataset": attr.dataset,
            "attribute": attr,
            "run": run,
            "split": split,
            "normalise": normalise,
            "b": quality.dashboard(run, split, labels),
        }
        html = render_to_string("curation/quality.html#board", context)
        if key:
            cache.set(key, str(html), BOARD_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 - our own template's output


@require_GET
@login_required
def gallery(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    run = run_for(attr, params.id_param(request.GET, "run"))
    if run is None:
        raise Http404(
            f"{attr.name} has no finished training run yet, so there are no mistakes to show."
        )
    labels = {lab.pk: lab for lab in quality.current_labels(attr)}
    flt = gallery_filter(request.GET, labels)
    try:
        after = quality.parse_cursor(request.GET.get("after"))
    except ValueError:
        raise params.BadParameter(
            "after", "The 'after' cursor is malformed; open the gallery from its first page."
        ) from None
    # Where this page starts in the gallery (the cursor's page says; 0 on the first page):
    # what the tiles' "n of N" counts from, without counting the rows before the cursor.
    at = params.int_param(request.GET, "at", default=0) if after is not None else 0
    rows, next_cursor = quality.gallery(run, flt, after=after, labels=labels)
    quality.attach_tile_urls(rows)
    attach_open_urls(rows, from_query(attr.name, run.pk, request.GET), at + 1)
    query = {k: v for k, v in request.GET.items() if k not in ("after", "at")}
    query["run"] = str(run.pk)
    context = {
        "dataset": attr.dataset,
        "attribute": attr,
        "run": run,
        "filter": flt,
        "title": flt.describe({pk: lab.name for pk, lab in labels.items()}),
        "labels": list(labels.values()),
        "rows": rows,
        "next_cursor": next_cursor,
        "next_at": at + len(rows),
        "total": quality.gallery_total(run, flt),
        "query": urlencode(query),
        "is_first_page": after is None,
        "can_relabel": roles.may(request.user, "relabel"),
        "reason_max": REASON_MAX,
    }
    if request.htmx and not request.htmx.boosted and after is not None:
        return render(request, "curation/gallery.html#tiles", context)
    return render(request, "curation/gallery.html", context)


def _tile(request, row: RunImage, attr: Attribute, run: TrainingRun, labels: list[Label], **extra):
    """One gallery tile; row.current is the annotation today (read here unless given)."""
    if not hasattr(row, "current"):
        quality.attach_current([row], attr.pk, {lab.pk: lab for lab in labels})
    quality.attach_tile_urls([row])
    # The page the tile lives on (not this POST's URL): where a no-JS post returns to.
    page_url = (request.htmx.current_url_abs_path if request.htmx else None) or request.POST.get(
        "next", ""
    )
    position = params.int_param(request.POST, "position", low=1)
    attach_open_urls([row], from_page_url(attr.name, run.pk, page_url), position)
    context = {
        "row": row,
        "attribute": attr,
        "run": run,
        "page_url": page_url,
        "labels": labels,
        "can_relabel": roles.may(request.user, "relabel"),
        "reason_max": REASON_MAX,
        **extra,
    }
    return render(
        request, "curation/gallery.html#tile", context, status=409 if extra.get("error") else 200
    )


def _gallery_target(request, image_id: int) -> tuple[RunImage, Attribute, TrainingRun, list[Label]]:
    """The run's row of the image (with the image and its labels), the attribute, the run and
    the attribute's labels of a tile post: two queries when all is well (a gallery click is
    the hottest write, and every join costs the planner too); the slow path only finds out
    which part is wrong, to say so in the 404."""
    require_viewer(request)
    run_id = params.id_param(request.POST, "run")
    rows = visible(request.user, RunImage.objects.all(), "run__dataset")  # a hidden one is a 404
    row = (
        rows.select_related("image", "run__attribute")
        .defer(*(f"run__{f}" for f in TrainingRun.HEAVY_FIELDS))
        .filter(
            image_id=image_id,
            run_id=run_id,
            run__attribute__name=request.POST.get("attribute", ""),
            run__kind=TrainingRun.Kind.CLASSIFIER,
            run__status=TrainingRun.Status.SUCCEEDED,
        )
        .first()
        if run_id is not None
        else None
    )
    if row is not None and row.run.attribute is not None:
        attr, run = row.run.attribute, row.run
    else:
        image = get_image_for_user(request, image_id)
        found = Attribute.objects.filter(
            dataset_id=image.dataset_id, name=request.POST.get("attribute", "")
        ).first()
        if found is None:
            raise Http404("That attribute does not exist in this image's dataset.")
        attr, picked = found, run_for(found, run_id)  # the default run when the post names none
        row = None if picked is None else RunImage.objects.filter(run=picked, image=image).first()
        if picked is None or row is None:
            raise Http404(f"Image #{image_id} is not in that run.")
        run, row.image = picked, image
    labels = quality.current_labels(attr)
    quality.attach_labels([row], {lab.pk: lab for lab in labels})
    return row, attr, run, labels


@require_POST
@login_required
def gallery_relabel(request, image_id: int):
    """One click or key in a gallery: relabel and give back the tile."""
    require_perm(request, "relabel")
    row, attr, run, labels = _gallery_target(request, image_id)
    # A button (accept / keep / suggestion) names its label in `choice`; the picker in `label`.
    key = "choice" if request.POST.get("choice") else "label"
    label_id = params.id_param(request.POST, key)
    label = next((lab for lab in labels if lab.pk == label_id), None)
    if label is None:
        raise Http404(f"'{label_id or ''}' is not a label of {attr.name}.")
    version = params.int_param(request.POST, "version")
    try:
        reason = clean_reason(request.POST.get("note", ""))
    except BadReason as exc:
        return _tile(request, row, attr, run, labels, error=f"Not saved: {exc}")
    where = f"from the {attr.name} gallery of run {run.pk}"
    try:
        annotation, event = relabel_image(
            image=row.image,
            attribute=attr,
            label=label,
            actor=request.user,
            expected_version=version,
            flagged_by_run_id=run.pk,
            note=f"{reason} · {where}" if reason else where,
        )
    except StaleLabel as exc:
        return _tile(
            request,
            row,
            attr,
            run,
            labels,
            error=f"Not saved: {exc.changed_by()} since you loaded the page.",
        )
    if event is None and reason:  # the reason would be lost without a change to keep it
        error = (
            f"Nothing saved: the label is already {label.name}; pick another to keep the reason."
        )
        if not request.htmx:
            messages.error(request, error)
            return redirect(back_to(request, row.image.get_absolute_url()))
        return _tile(request, row, attr, run, labels, error=error)
    if not request.htmx:
        return redirect(back_to(request, row.image.get_absolute_url()))
    annotation.label = label
    row.current = annotation  # type: ignore[attr-defined]
    return _tile(request, row, attr, run, labels, event=event)


@require_POST
@login_required
def gallery_undo(request, event_id: int):
    """`u` in a gallery: revert the user's last change there and give back the tile."""
    require_perm(request, "relabel")
    event = get_event_for_user(request, event_id)
    row, attr, run, labels = _gallery_target(request, event.image_id)
    try:
        revert_label_event(event=event, actor=request.user)
    except StaleLabel as exc:
        return _tile(request, row, attr, run, labels, error=f"Not undone: {exc.__cause__ or exc}")
    return _tile(request, row, attr, run, labels, undone=True)


@require_POST
@login_required
def gallery_bulk(request, name: str, attribute: str):
    """Relabel the selected tiles in one batch (revertable together)."""
    require_perm(request, "relabel")
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "relabel")
    run = run_for(attr, params.id_param(request.POST, "run"))
    back = back_to(request, reverse("curation:quality", args=[name, attribute]))
    label_id = params.id_param(request.POST, "label")
    label = Label.objects.filter(attribute=attr, pk=label_id or -1).first()
    ids = params.int_list(request.POST, "image")
    if label is None or not ids:
        messages.error(request, "Pick at least one image and a label to apply.")
        return redirect(back)
    versions = {
        params.parse_int(k[8:], k, low=1): params.parse_int(v, k)
        for k, v in request.POST.items()
        if k.startswith("version_") and v
    }
    images = list(Image.objects.filter(dataset=attr.dataset, pk__in=ids))
    result = relabel_images(
        images=images,
        attribute=attr,
        label=label,
        actor=request.user,
        expected_versions=versions,
        flagged_by_run_id=run.pk if run else None,
        note=f"bulk relabel from the {attr.name} gallery",
    )
    undo = reverse("curation:batch_revert", args=[result.batch])
    messages.info(
        request,
        f"Relabelled {result.changed} image(s) as {label.name} "
        f"(batch {str(result.batch)[:8]}; revert it from {undo}).",
    )
    for problem in result.stale:
        messages.error(request, f"Not changed: {problem}")
    return redirect(back)


@require_GET
@login_required
def compare(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    runs = quality.run_choices(attr, limit=50)
    context = {"dataset": attr.dataset, "attribute": attr, "runs": runs}
    if len(runs) >= 2:
        run_b = run_for(attr, params.id_param(request.GET, "b") or runs[0].pk)
        run_a = run_for(attr, params.id_param(request.GET, "a") or runs[1].pk)
        assert run_a is not None and run_b is not None
        rows, summary = quality.compare(run_a, run_b)
        context.update(run_a=run_a, run_b=run_b, rows=rows, summary=summary)
    return render(request, "curation/compare.html", context)
