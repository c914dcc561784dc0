"""Training the look-alike embedding from the similarity page: the Train similarity form, and
what the similarity page and a similarity run's page show about it."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from curation.access import get_dataset_for_user, require_perm
from curation.models import TrainingRun, Triplet
from curation.queries import catalog
from curation.services.runs.options import TrainingError
from curation.services.runs.similarity_start import default_similarity_options, start_similarity_run
from curation.views.forms import BackboneForm, WholeNumberField

SOURCES = [
    ("flip", "re-cropped / flipped copy"),
    ("group", "another photo of the product"),
    ("attribute", "same labels vs other labels"),
    ("human", "people's judgements"),
]


class SimilarityTrainForm(BackboneForm):
    arch = forms.ChoiceField(
        choices=[
            ("efficientnet_lite0", "EfficientNet-Lite0 (ImageNet weights)"),
            ("resnet18", "ResNet-18 (random weights)"),
            ("resnet50", "ResNet-50 (random weights)"),
        ]
    )
    dim = WholeNumberField(min_value=2, max_value=4096, label="Embedding size")
    margin = forms.FloatField(min_value=0.01, max_value=4, label="Margin")
    localize = forms.BooleanField(
        required=False, label="Also train a dress localizer on the boxes (crops images without one)"
    )


def _initial(dataset) -> dict:
    defaults = default_similarity_options(dataset)
    return {k: defaults[k] for k in SimilarityTrainForm.base_fields}


@require_http_methods(["GET", "POST"])
@login_required
def similarity_train(request, name: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "train")
    form = SimilarityTrainForm(request.POST or None, initial=_initial(dataset))
    if request.method == "POST" and form.is_valid():
        options = dict(form.cleaned_data)
        options["pretrained"] = options["arch"] == "efficientnet_lite0"  # as the form says
        try:
            run = start_similarity_run(dataset=dataset, options=options, actor=request.user)
        except TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(run.get_absolute_url())
    status = 400 if request.method == "POST" else 200  # here after a POST: the form has errors
    context = {"dataset": dataset, "form": form}
    return render(request, "curation/similarity_train.html", context, status=status)


def training_context(dataset) -> dict:
    """For the similarity page: recent similarity runs, the quick form, and what people can
    add (triplets judged, images still without a box)."""
    runs = (
        TrainingRun.objects.filter(dataset=dataset, kind=TrainingRun.Kind.SIMILARITY)
        .select_related("created_by")
        .order_by("-id")[:5]
    )
    return {
        "similarity_runs": list(runs),
        "train_form": SimilarityTrainForm(initial=_initial(dataset)),
        "triplet_count": Triplet.objects.filter(dataset=dataset).count(),
        "missing_boxes": catalog.missing_box_count(dataset),
    }


def source_rows(run: TrainingRun) -> list[dict]:
    """One row per triplet source for a similarity run's page."""
    m = run.metrics or {}
    counts = m.get("triplets", {})
    accuracy = m.get("accuracy_by_source", {})
    return [
        {
            "name": name,
            "about": about,
            "train": counts.get("train", {}).get(name, 0),
            "held": counts.get("held", {}).get(name),
            "held_accuracy": accuracy.get("held", {}).get(name),
            "train_accuracy": accuracy.get("train", {}).get(name),
        }
        for name, about in SOURCES
    ]
