"""Label history of a whole dataset, filterable, with revert of one change or a batch."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import get_dataset_for_user, require_perm, visible
from curation.models import LabelEvent, LabelSource
from curation.services.labels import revert_batch

PAGE = 100


def _date(raw: str, key: str, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise Http404(f"'{raw}' is not a date like 2026-11-27 ({key}).") from None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


@require_GET
@login_required
def dataset_history(request, name: str):
    dataset = get_dataset_for_user(request, name)
    g = request.GET
    events = LabelEvent.objects.filter(image__dataset=dataset)
    if g.get("actor"):
        events = events.filter(actor__username=g["actor"])
    if g.get("attribute"):
        events = events.filter(attribute__name=g["attribute"])
    if g.get("label"):
        events = events.filter(new_label__name=g["label"]) | events.filter(
            old_label__name=g["label"]
        )
    if g.get("source"):
        if g["source"] not in LabelSource.values:
            raise Http404(f"'{g['source']}' is not a source ({', '.join(LabelSource.values)}).")
        events = events.filter(source=g["source"])
    if g.get("batch"):
        try:
            events = events.filter(batch=uuid.UUID(g["batch"]))
        except ValueError:
            raise Http404(f"'{g['batch']}' is not a batch id.") from None
    since, until = _date(g.get("since", ""), "since"), _date(g.get("until", ""), "until", end=True)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lte=until)
    after = params.id_param(g, "after")
    if after is not None:
        events = events.filter(id__lt=after)
    page = list(
        events.select_related("image", "attribute", "old_label", "new_label", "actor")
        .prefetch_related("reverted_by")
        .order_by("-id")[: PAGE + 1]
    )
    query = urlencode({k: v for k, v in g.items() if k != "after" and v})
    return render(
        request,
        "curation/history.html",
        {
            "dataset": dataset,
            "events": page[:PAGE],
            "filters": g,
            "query": query,
            "next_after": page[PAGE - 1].pk if len(page) > PAGE else None,
            "attributes": dataset.attributes.all(),
            "sources": LabelSource.values,
            "can_relabel": roles.may(request.user, "relabel"),
        },
    )


@require_POST
@login_required
def batch_revert(request, batch: uuid.UUID):
    require_perm(request, "revert")
    events = LabelEvent.objects.filter(batch=batch)
    first = visible(request.user, events, "image__dataset").select_related("image__dataset").first()
    if first is None or events.exclude(image__dataset_id=first.image.dataset_id).exists():
        raise Http404(f"There is no batch of label changes {batch}.")
    reverted, problems = revert_batch(batch=batch, actor=request.user)
    messages.info(request, f"Reverted {reverted} change(s) of batch {str(batch)[:8]}.")
    for problem in problems:
        messages.error(request, f"Not reverted: {problem}")
    return redirect(
        f"{reverse('curation:dataset_history', args=[first.image.dataset.name])}?batch={batch}"
    )
