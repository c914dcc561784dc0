"""Review work a data scientist hands out: a batch of the queue for one reviewer, and gold
items (images with a known answer) that score reviewers; and a reviewer's answer to one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from curation import params
from curation.access import (
    get_attribute_for_user,
    get_gold_for_user,
    get_image_for_user,
    require_perm,
)
from curation.models import Label
from curation.params import BadParameter
from curation.queries import quality, reviewer_queue
from curation.services.gold import answer_gold, mark_gold
from curation.services.reviews import ReviewError, assign_batch
from curation.views.nav import back_to
from curation.views.reviews import get_review_run_for_user, review_run, vote_redirect, voted_label

BATCH_MAX = 1000


@require_POST
@login_required
def review_assign(request, name: str, attribute: str):
    """Give the next N open items of the run's queue to one reviewer."""
    attr, run = get_review_run_for_user(request, name, attribute, "assign_reviews")
    count = params.int_param(request.POST, "count", low=1, high=BATCH_MAX)
    if count is None:
        raise BadParameter("count", f"count: say how many items to assign (1 to {BATCH_MAX}).")
    user_id = params.id_param(request.POST, "user")
    assignee = User.objects.filter(pk=user_id or 0, is_active=True).first()
    if assignee is None:
        raise BadParameter("user", "user: choose the reviewer to give the batch to.")
    try:
        done = assign_batch(run=run, assignee=assignee, count=count, actor=request.user)
    except ReviewError as exc:
        raise BadParameter("user", f"user: {exc}.") from None
    messages.info(request, f"Assigned {done} item(s) of run {run.pk} to {assignee.username}.")
    return redirect(f"{reverse('curation:review', args=[name, attribute])}?run={run.pk}")


@require_POST
@login_required
def gold_mark(request, name: str, attribute: str):
    """Make an image of the dataset a gold item with its answer."""
    attr = get_attribute_for_user(request, name, attribute)
    require_perm(request, "mark_gold")
    image_id = params.id_param(request.POST, "image")
    if image_id is None:
        raise BadParameter("image", "image: give the id of the image to make a gold item.")
    image = get_image_for_user(request, image_id)
    answer_id = params.id_param(request.POST, "answer")
    answer = Label.objects.filter(attribute=attr, pk=answer_id or 0).first()
    if answer is None:
        raise BadParameter("answer", f"answer: choose one of the labels of {attr.name}.")
    try:
        mark_gold(image=image, attribute=attr, answer=answer, actor=request.user)
    except ReviewError as exc:
        raise BadParameter("image", f"image: {exc}.") from None
    messages.info(request, f"Image {image.pk} is a gold item of {attr.name}: {answer.name}.")
    return redirect(back_to(request, reverse("curation:review", args=[name, attribute])))


@require_POST
@login_required
def gold_answer(request, gold_id: int):
    """A reviewer's answer to a gold tile; the page answers as for any vote."""
    require_perm(request, "vote")
    gold = get_gold_for_user(request, gold_id)
    attr = gold.attribute
    label = voted_label(request, attr)
    error = ""
    answer = None
    try:
        answer = answer_gold(gold=gold, label=label, reviewer=request.user)
    except ReviewError as exc:
        error = f"Vote not taken: {exc}."
    if not request.htmx:
        return vote_redirect(request, attr.dataset.name, attr.name, error)
    run = review_run(attr, request.POST)
    tiles = reviewer_queue.gold_tiles_for(attr, run, [gold]) if run else []
    tile = tiles[0] if tiles else reviewer_queue.GoldTile(gold, None, None, None, None)
    tile.my_answer = answer or gold.answers.filter(reviewer=request.user).first()
    context = {
        "tile": tile,
        "labels": quality.current_labels(attr),
        "error": error,
        "dataset": attr.dataset,
        "attribute": attr,
        "run": run,
    }
    return render(request, "curation/review.html#gold", context, status=409 if error else 200)
