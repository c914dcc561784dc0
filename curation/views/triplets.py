"""The triplet page: which of two candidates looks more like the reference? Each answer is a
Triplet a similarity run trains (or tests) on; HTMX swaps in the next question."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from curation import params, roles
from curation.access import get_dataset_for_user, require_perm
from curation.models import Image, Triplet
from curation.queries.triplets import next_question
from curation.services.indexes import SimilarityError
from curation.services.triplets import record_triplet

CHOICES = ("a", "b", "skip")


@require_http_methods(["GET", "POST"])
@login_required
def triplets(request, name: str):
    dataset = get_dataset_for_user(request, name)
    error = ""
    if request.method == "POST":
        require_perm(request, "judge")
        error = _answer(request, dataset)
        if not error and not request.htmx:
            return redirect("curation:triplets", name=dataset.name)
    mine = Triplet.objects.filter(dataset=dataset, actor=request.user)
    context = {
        "dataset": dataset,
        "question": next_question(dataset),
        "error": error,
        "total": Triplet.objects.filter(dataset=dataset).count(),
        "mine": mine.count(),
        "can_judge": roles.may(request.user, "judge"),
    }
    template = "curation/triplets.html#question" if request.htmx else "curation/triplets.html"
    return render(request, template, context, status=400 if error else 200)


def _answer(request, dataset) -> str:
    """Record the answer in request.POST; the error message, or "" when it was taken."""
    choice = request.POST.get("choice", "")
    if choice not in CHOICES:
        return f"choose a, b or skip, not '{choice[:20]}'"
    if choice == "skip":
        return ""
    found, lost = {}, []
    for key in ("reference", "a", "b"):
        try:
            found[key] = params.id_param(request.POST, key)
        except params.BadParameter:  # said on the page, with the next question
            found[key] = None
        if found[key] is None:
            lost.append(key)
    if lost:
        return f"the question lost its images ({', '.join(lost)}); answer the next one"
    ids = {key: value for key, value in found.items() if value is not None}
    images = Image.objects.filter(dataset=dataset, pk__in=ids.values()).in_bulk()
    missing = [str(v) for v in ids.values() if v not in images]
    if missing:
        return f"image #{', #'.join(missing)} is not part of {dataset.name}"
    closer, farther = (ids["a"], ids["b"]) if choice == "a" else (ids["b"], ids["a"])
    try:
        record_triplet(
            reference=images[ids["reference"]],
            closer=images[closer],
            farther=images[farther],
            actor=request.user,
        )
    except SimilarityError as exc:
        return str(exc)
    return ""
