"""The run diff: two finished runs of one attribute, and the images whose prediction flipped
between them (right → wrong, wrong → right, wrong in both with another prediction) as
paged galleries of the existing QA tiles. Linked from the comparison page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from curation import params, roles
from curation.access import get_attribute_for_user
from curation.models import Attribute, Label, Split, TrainingRun
from curation.queries import quality, run_diff
from curation.services.labels import REASON_MAX

DIFF_PAGE = 12  # tiles a gallery page; three galleries share the page


def _finished_run(attr: Attribute, key: str, run_id: int | None) -> TrainingRun:
    if run_id is None:
        raise params.BadParameter(key, f"Name run {key.upper()} as ?{key}=<run id>.")
    run = quality.classifier_runs(attr).filter(pk=run_id).select_related("attribute").first()
    if run is None:
        raise Http404(f"Run #{run_id} is not a finished run of {attr.name}.")
    return run


def _gallery(request, kind: run_diff.FlipKind, run_a, run_b, split, labels: dict[int, Label]):
    param = f"{kind.key}_page"
    page = Paginator(run_diff.flipped(run_a, run_b, split, kind.key), DIFF_PAGE).get_page(
        request.GET.get(param)
    )
    rows = list(page.object_list)
    a_predicted = {r.image_id: labels.get(r.a_predicted) for r in rows}  # type: ignore[attr-defined]
    quality.attach_labels(rows, labels)
    quality.attach_current(rows, run_b.attribute_id, labels)
    quality.attach_tile_urls(rows)
    for r in rows:
        r.a_predicted_label = a_predicted[r.image_id]  # type: ignore[attr-defined]
    keep = urlencode({k: v for k, v in request.GET.items() if k != param})
    return {"kind": kind, "page": page, "rows": rows, "param": param, "keep": keep}


@require_GET
@login_required
def run_diff_page(request, name: str, attribute: str):
    attr = get_attribute_for_user(request, name, attribute)
    run_a = _finished_run(attr, "a", params.id_param(request.GET, "a"))
    run_b = _finished_run(attr, "b", params.id_param(request.GET, "b"))
    split = request.GET.get("split") or Split.TEST
    if split not in Split.values:
        raise params.BadParameter("split", f"'{split}' is not a split (train or test).")
    labels = {lab.pk: lab for lab in quality.current_labels(attr)}
    counts = run_diff.flip_counts(run_a, run_b, split)
    galleries = [_gallery(request, k, run_a, run_b, split, labels) for k in run_diff.KINDS]
    for g in galleries:
        g["count"] = counts[g["kind"].key]
    return render(
        request,
        "curation/run_diff.html",
        {
            "dataset": attr.dataset,
            "attribute": attr,
            "run_a": run_a,
            "run_b": run_b,
            "run": run_b,  # the tiles relabel through run B, the later view of the images
            "split": split,
            "paired": counts["paired"],
            "galleries": galleries,
            "labels": list(labels.values()),
            "can_relabel": roles.may(request.user, "relabel"),
            "reason_max": REASON_MAX,
            "other_split": Split.TRAIN if split == Split.TEST else Split.TEST,
        },
    )
