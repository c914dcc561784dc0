"""The likely-mislabel review queue: vote, see agreement (CROWDLAB consensus, reviewer
quality, kappas), guideline examples, and the crowd export/import round trip."""

from __future__ import annotations

import csv
import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curation import params, roles
from curation.access import (
    get_attribute_for_user,
    get_review_item_for_user,
    require_perm,
)
from curation.crowd_links import LinkExpired, LinkInvalid, image_of_link, sign_image
from curation.csvsafe import escape_cell
from curation.models import Attribute, Image, Label, ReviewItem, TrainingRun
from curation.queries import quality, reviewer_queue
from curation.queries.agreement import run_agreement
from curation.queries.strength import run_strength
from curation.services.reviews import (
    ReviewError,
    cast_vote,
    import_answers,
    queue_spot_checks,
    queue_suspects,
)
from curation.views.files import serve_stored_file
from curation.views.nav import back_to

PAGE = 20
CONSENSUS_PAGE = 50
STATUSES = {s.value: s.label for s in ReviewItem.Status}


def review_run(attr: Attribute, query) -> TrainingRun | None:
    """The run named by `run` in the query or form, else the attribute's review run."""
    runs = quality.classifier_runs(attr)
    run_id = params.id_param(query, "run")
    if run_id is not None:
        run = runs.filter(pk=run_id).first()
        if run is None:
            raise Http404(f"Run #{run_id} is not a finished run of {attr.name}.")
        return run
    return runs.filter(review_items__isnull=False).distinct().first() or runs.first()


def get_review_run_for_user(
    request, name: str, attribute: str, action: str | None = None
) -> tuple[Attribute, TrainingRun]:
    """The attribute (see get_attribute_for_user), then the role check for `action`, then
    the run the query or form names, else the attribute's review run; 404 when it has no
    finished run."""
    attr = get_attribute_for_user(request, name, attribute)
    if action is not None:
        require_perm(request, action)
    run = review_run(attr, request.POST if request.method == "POST" else request.GET)
    if run is None:
        raise Http404(f"{attr.name} has no finished classifier run to review.")
    return attr, run


def voted_label(request, attr: Attribute) -> Label:
    """The label a vote names; 404 unless it is one of `attr`'s. A button (accept / keep /
    suggestion) names its label in `choice`; the picker in `label`."""
    key = "choice" if request.POST.get("choice") else "label"
    label_id = params.id_param(request.POST, key)
    label = Label.objects.filter(attribute=attr, pk=label_id or 0).first()
    if label is None:
        raise Http404(f"'{label_id or ''}' is not a label of {attr.name}.")
    return label


def vote_redirect(request, name: str, attribute: str, error: str) -> HttpResponse:
    """A vote's answer to a page without htmx: back where it came from (else the review
    queue), with the error as a message."""
    if error:
        messages.error(request, error)
    return redirect(back_to(request, reverse("curation:review", args=[name, attribute])))


@require_GET
@login_required
def review_queue(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    run = review_run(attr, request.GET)
    status = request.GET.get("status") or ReviewItem.Status.OPEN
    if status not in STATUSES:
        raise Http404(f"'{status}' is not a review status ({', '.join(STATUSES)}).")
    context = {
        "dataset": attr.dataset,
        "attribute": attr,
        "run": run,
        "status": status,
        "statuses": STATUSES,
        "labels": quality.current_labels(attr),
    }
    if run is not None:
        context.update(_queue_context(request, attr, run, status))
    if roles.may(request.user, "mark_gold"):
        context.update(
            gold_items=reviewer_queue.gold_items(attr), reviewers=reviewer_queue.reviewers()
        )
    return render(request, "curation/review.html", context)


def _queue_context(request, attr: Attribute, run: TrainingRun, status: str) -> dict:
    """The reviewer's assigned batch (first page only), then a page of the items nobody was
    given, with gold items mixed into the open queue of those who may vote."""
    after = params.int_param(request.GET, "after")
    assigned = reviewer_queue.assigned_items(run, status, request.user) if after is None else []
    page = reviewer_queue.unassigned_items(run, status, after=after, limit=PAGE + 1)
    items = page[:PAGE]
    for item in [*assigned, *items]:
        item.my_vote = next(
            (v for v in item.case.votes.all() if v.reviewer_id == request.user.pk), None
        )
    tiles: list = items
    if status == ReviewItem.Status.OPEN and roles.may(request.user, "vote"):
        golds = reviewer_queue.gold_tiles(
            attr, run, request.user, count=reviewer_queue.golds_per_page(len(items))
        )
        tiles = reviewer_queue.mix_gold(items, golds, seed=request.user.pk * 7919 + (after or 0))
    return {
        "assigned": assigned,
        "items": tiles,
        "next_after": page[PAGE - 1].rank if len(page) > PAGE else None,
        "counts": {s: ReviewItem.objects.filter(run=run, status=s).count() for s in STATUSES},
        "wrong": quality.wrong_labels_left(run),
        "strength": run_strength(run),
    }


@require_GET
@login_required
def review_agreement(request, name: str, attribute: str):
    """Reviewers against each other, the decisions and the run's model: CROWDLAB consensus
    per item (lowest quality first), reviewer quality (worst first) and the kappas."""
    attr = get_attribute_for_user(request, name, attribute)
    run = review_run(attr, request.GET)
    doubted = request.GET.get("doubted") == "1"
    context = {
        "dataset": attr.dataset,
        "attribute": attr,
        "run": run,
        "doubted": doubted,
        "gold_scores": reviewer_queue.gold_scores(attr),
    }
    if run is not None:
        agreement = run_agreement(run)
        rows = agreement.consensus.items if agreement.consensus else []
        if doubted:
            rows = [row for row in rows if row.doubts_decision]
        context.update(
            agreement=agreement,
            label_names=agreement.label_names,
            consensus_page=Paginator(rows, CONSENSUS_PAGE).get_page(
                params.int_param(request.GET, "page", low=1, default=1)
            ),
        )
    if request.htmx and run is not None:
        return render(request, "curation/agreement.html#consensus", context)
    return render(request, "curation/agreement.html", context)


@require_POST
@login_required
def review_vote(request, item_id: int):
    require_perm(request, "vote")
    item = get_review_item_for_user(request, item_id)
    label = voted_label(request, item.attribute)
    error = ""
    try:
        item = cast_vote(item=item, label=label, reviewer=request.user)
    except ReviewError as exc:
        error = f"Vote not taken: {exc}."
    if not request.htmx:
        return vote_redirect(request, item.run.dataset.name, item.attribute.name, error)
    item = ReviewItem.objects.select_related(
        "image",
        "given_label",
        "suggested_label",
        "case__decided_label",
        "run__dataset",
        "attribute",
    ).get(pk=item.pk)
    item.my_vote = item.case.votes.filter(reviewer=request.user).first()
    context = {
        "item": item,
        "labels": quality.current_labels(item.attribute),
        "error": error,
        "dataset": item.run.dataset,
        "attribute": item.attribute,
        "run": item.run,
    }
    return render(request, "curation/review.html#item", context, status=409 if error else 200)


@require_POST
@login_required
def review_queue_more(request, name: str, attribute: str):
    attr, run = get_review_run_for_user(request, name, attribute, "queue_suspects")
    size = ReviewItem.objects.filter(run=run).count()
    added = queue_suspects(run=run, limit=size + 100)
    messages.info(request, f"Added {added} more suspects of run {run.pk} to the queue.")
    return redirect(f"{reverse('curation:review', args=[name, attribute])}?run={run.pk}")


@require_POST
@login_required
def review_spot_checks(request, name: str, attribute: str):
    _, run = get_review_run_for_user(request, name, attribute, "queue_suspects")
    added = queue_spot_checks(run=run)
    messages.info(
        request,
        f"Added {added} spot checks of run {run.pk} to the queue: random images whose answers "
        "count the wrong labels left.",
    )
    return redirect(f"{reverse('curation:review', args=[name, attribute])}?run={run.pk}")


@require_GET
@login_required
def review_export(request, name: str, attribute: str):
    """Open review tasks for an outside crowd, as CSV (default) or JSON (?format=json). Image
    links are signed and expire (CURATION_CROWD_LINK_HOURS), and work without a login."""
    attr, run = get_review_run_for_user(request, name, attribute)
    options = "|".join(lab.name for lab in quality.current_labels(attr))
    tasks = [
        {
            "task_id": item.pk,
            "image_url": request.build_absolute_uri(
                reverse("curation:crowd_image", args=[sign_image(item.image_id)])
            ),
            "given_label": item.given_label.name,
            "suggested_label": item.suggested_label.name if item.suggested_label else "",
            "options": options,
        }
        for item in ReviewItem.objects.filter(run=run)
        .exclude(status=ReviewItem.Status.DECIDED)
        .select_related("given_label", "suggested_label")
        .order_by("rank")
    ]
    stem = f"review-{name}-{attribute}-run{run.pk}"
    if request.GET.get("format") == "json":
        response = HttpResponse(json.dumps(tasks, indent=1), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{stem}.json"'
        return response
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["task_id", "image_url", "given_label", "suggested_label", "options"]
    )
    writer.writeheader()
    for task in tasks:
        writer.writerow({k: escape_cell(str(v)) for k, v in task.items()})
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return response


@require_GET
def crowd_image(request, token: str):
    """An image's file through a signed link of a crowd export: no login, but a link that
    expired or was changed is refused with a page that says so (never the login page)."""
    try:
        image_id = image_of_link(token)
    except LinkExpired:
        return HttpResponse(
            "This image link has expired. Ask for a fresh export of the review tasks.",
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    except LinkInvalid:
        return HttpResponse(
            "This image link is not valid: it was not made by this site or was changed.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return HttpResponse(
            "The image behind this link is gone.", status=410, content_type="text/plain"
        )
    return serve_stored_file(image.file)


@require_POST
@login_required
def review_import(request, name: str, attribute: str):
    """Crowd answers back in (task_id, worker_id, label), decided by the same rule."""
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "import_answers")
    run = review_run(attr, request.POST)
    back = f"{reverse('curation:review', args=[name, attribute])}?run={run.pk if run else ''}"
    upload = request.FILES.get("answers")
    if run is None or upload is None:
        messages.error(request, "Choose an answers file (CSV or JSON) to import.")
        return redirect(back)
    if upload.size > 20 * 1024 * 1024:
        messages.error(request, "The answers file is larger than 20 MB; split it into parts.")
        return redirect(back)
    report = import_answers(run=run, data=upload.read(), filename=upload.name, actor=request.user)
    messages.info(request, f"Imported {report.votes} answer(s); {report.decided} image(s) decided.")
    for err in report.errors[:20]:
        messages.error(request, f"line {err['line']}: {err['reason']}")
    if len(report.errors) > 20:
        messages.error(request, f"… and {len(report.errors) - 20} more refused lines.")
    return redirect(back)


@require_GET
@login_required
def guide(request, name: str, attribute: str):
    """Clear examples of each label, for reviewers."""
    attr = get_attribute_for_user(request, name, attribute)
    run = quality.default_run(attr)
    labels = quality.current_labels(attr)
    examples = quality.guideline_examples(run, labels) if run else []
    return render(
        request,
        "curation/guide.html",
        {"dataset": attr.dataset, "attribute": attr, "run": run, "examples": examples},
    )
