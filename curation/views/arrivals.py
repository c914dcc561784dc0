"""The new-arrivals queue of one attribute: unlabelled images its promoted model has scored,
with the suggested label; accept one, many or a page (source `model`), give a label by
number key (source `manual`), and undo the last action as a batch."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_attribute_for_user, require_perm
from curation.models import Attribute, Label, LabelEvent
from curation.queries import arrivals, quality
from curation.queries.strength import is_weak
from curation.services.arrivals import (
    ArrivalsResult,
    NoPromotedModel,
    accept_suggestions,
    label_arrivals,
)
from curation.services.labels import revert_batch

BULK = ("selected", "page")  # accept values that take many images at once


def _order(raw: str | None) -> str:
    order = raw or "confident"
    if order not in arrivals.ORDERS:
        raise Http404(f"'{order[:20]}' is not an order ({', '.join(arrivals.ORDERS)}).")
    return order


def _batch(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Http404(f"'{raw[:40]}' is not a batch id.") from None


def _queue_url(attr: Attribute, order: str, page: str, **extra: str) -> str:
    query = {"order": order, "page": page, **extra}
    url = reverse("curation:arrivals", args=[attr.dataset.name, attr.name])
    return f"{url}?{urlencode({k: v for k, v in query.items() if v})}"


def _context(request, attr: Attribute, order: str, page: str, **extra) -> dict:
    promoted = getattr(attr, "promoted", None)  # loaded with the attribute, with its run
    run = promoted.run if promoted is not None else None
    labels = quality.current_labels(attr)
    context = {
        "dataset": attr.dataset,
        "attribute": attr,
        "run": run,
        "labels": labels,
        "order": order,
        "can_relabel": roles.may(request.user, "relabel"),
        "weak": is_weak(run),  # no bulk accept of a weak model's suggestions
        **extra,
    }
    if run is not None:
        q = arrivals.queue(attr, run, labels=labels, order=order, page=page)
        context["queue"] = q
        context["page"] = q.page
        context["keep"] = urlencode({"order": order})
        if not q.total:
            context["scoring"] = arrivals.active_scoring(attr)
    return context


@require_GET
@login_required
def arrivals_queue(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    order, page = _order(request.GET.get("order")), request.GET.get("page") or "1"
    done = _batch(request.GET.get("done"))
    summary = arrivals.batch_summary(attr, done) if done else None
    context = _context(request, attr, order, page, done=summary)
    return render(request, "curation/arrivals.html", context)


def _versions(post) -> dict[int, int]:
    return {
        params.parse_int(k[8:], k, low=1): params.parse_int(v, k)
        for k, v in post.items()
        if k.startswith("version_") and v
    }


@require_POST
@login_required
def arrivals_decide(request, name: str, attribute: str):
    """Accept the suggestions of the posted images (`accept`: one tile, the selected tiles,
    or the whole page), or give them the posted `label` (a number key)."""
    require_perm(request, "relabel")
    attr = get_attribute_for_user(request, name, attribute)
    order, page = _order(request.POST.get("order")), request.POST.get("page") or "1"
    accept = request.POST.get("accept", "")
    ids = params.int_list(request.POST, "page_image" if accept == "page" else "image")
    if not ids:
        return _answer(request, attr, order, page, error="Select at least one image first.")
    promoted = getattr(attr, "promoted", None)
    if accept in BULK and is_weak(promoted.run if promoted is not None else None):
        error = (
            "The promoted model is weak (not clearly better than always answering its "
            "commonest label): accept its suggestions one image at a time."
        )
        return _answer(request, attr, order, page, error=error)
    try:
        if accept:
            result = accept_suggestions(
                attribute=attr,
                image_ids=ids,
                actor=request.user,
                expected_versions=_versions(request.POST),
            )
        else:
            label_id = params.id_param(request.POST, "label")
            label = Label.objects.filter(attribute=attr, pk=label_id or -1).first()
            if label is None:
                raise Http404(f"'{label_id}' is not a label of {attr.name}.")
            result = label_arrivals(
                attribute=attr,
                image_ids=ids,
                label=label,
                actor=request.user,
                expected_versions=_versions(request.POST),
            )
    except NoPromotedModel as exc:
        return _answer(request, attr, order, page, error=str(exc))
    return _answer(request, attr, order, page, result=result)


@require_POST
@login_required
def arrivals_undo(request, name: str, attribute: str):
    """Revert one action of the queue (its batch): the images come back to the queue."""
    require_perm(request, "revert")
    attr = get_attribute_for_user(request, name, attribute)
    order, page = _order(request.POST.get("order")), request.POST.get("page") or "1"
    batch = _batch(request.POST.get("batch"))
    if batch is None or not LabelEvent.objects.filter(batch=batch, attribute_id=attr.pk).exists():
        raise Http404(f"There is no batch of {attr.name} changes {batch}.")
    reverted, problems = revert_batch(batch=batch, actor=request.user)
    undone = f"Undone: {reverted} label(s) back to empty; the images are in the queue again."
    return _answer(request, attr, order, page, undone=undone, problems=problems)


def _answer(
    request,
    attr: Attribute,
    order: str,
    page: str,
    *,
    result: ArrivalsResult | None = None,
    error: str = "",
    undone: str = "",
    problems: list[str] | None = None,
):
    """The queue again: the `queue` fragment for HTMX, else a redirect to the page (with the
    batch to undo in ?done=, so the banner shows there too)."""
    problems = list(problems or []) + (result.skipped if result else [])
    if request.htmx:
        summary = None
        if result and result.changed:
            summary = arrivals.BatchSummary(result.batch, result.changed, result.source, reverted=0)
        context = _context(
            request, attr, order, page, done=summary, error=error, undone=undone, problems=problems
        )
        return render(request, "curation/arrivals.html#queue", context)
    if error:
        messages.error(request, error)
    for problem in problems:
        messages.error(request, f"Not changed: {problem}")
    if undone:
        messages.info(request, undone)
    done = str(result.batch) if result and result.changed else ""
    return redirect(_queue_url(attr, order, page, done=done))
