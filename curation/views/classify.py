"""Classify a photo: upload one, see each attribute's most probable labels from the promoted
models (and the crop, where the dataset's localizer cropped it)."""

from __future__ import annotations

from base64 import b64encode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from curation.access import get_dataset_for_user
from curation.queries import classify
from curation.queries.scores import promoted_runs

SHOWN = 5  # labels shown per attribute


@require_http_methods(["GET", "POST"])
@login_required
def classify_photo(request, name: str):
    dataset = get_dataset_for_user(request, name)
    context = {
        "dataset": dataset,
        "has_models": bool(promoted_runs(dataset.pk)),
        "result": None,
        "error": "",
    }
    if request.method == "POST":
        upload = request.FILES.get("photo")
        try:
            if upload is None:
                raise classify.ClassifyError("choose a photo to classify")
            data = upload.read(classify.max_photo_bytes() + 1)
            context["result"] = shown(classify.classify_photo(dataset, data, upload.name))
            context["photo_name"] = upload.name
        except classify.ClassifyError as exc:
            context["error"] = str(exc)
    template = "curation/classify.html#result" if request.htmx else "curation/classify.html"
    return render(request, template, context, status=400 if context["error"] else 200)


def shown(found: classify.PhotoScores) -> dict:
    """What the page draws: the top labels as percentages, the crop as an inline image."""
    crop = found.crop
    return {
        "crop": None
        if crop is None
        else {
            "box": crop.box,
            "width": crop.width,
            "height": crop.height,
            "src": "data:image/jpeg;base64," + b64encode(crop.preview).decode("ascii"),
        },
        "attributes": [
            {
                "attribute": a.attribute,
                "run_id": a.run_id,
                "top": a.top.name,
                "labels": [
                    {"name": lp.name, "percent": round(100 * lp.probability, 1)}
                    for lp in a.labels[:SHOWN]
                ],
                "more": max(0, len(a.labels) - SHOWN),
            }
            for a in found.attributes
        ],
    }
