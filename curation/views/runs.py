from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from curation.access import (
    get_dataset_for_user,
    get_run_for_user,
    require_perm,
    require_viewer,
    visible,
)
from curation.models import Attribute, RunImage, TrainingRun
from curation.queries.calibration import class_reliability
from curation.queries.pr_curves import class_pr_curves
from curation.services.calibration import run_calibration
from curation.services.runs.classifier_start import default_options, start_training_run
from curation.services.runs.control import cancel_training_run, promote_training_run
from curation.services.runs.options import TrainingError
from curation.views.forms import BackboneForm, WholeNumberField
from curation.views.similarity_runs import source_rows


class RetrainForm(BackboneForm):
    ARCHES = [
        ("resnet18", "ResNet-18"),
        ("resnet50", "ResNet-50"),
        ("efficientnet_lite0", "EfficientNet-Lite0"),
    ]
    arch = forms.ChoiceField(choices=ARCHES)
    stn = forms.BooleanField(required=False, label="Spatial Transformer front-end")
    pretrained = forms.BooleanField(
        required=False, label="Start from ImageNet weights (EfficientNet-Lite0 only)"
    )
    class_weighting = forms.ChoiceField(
        choices=[
            ("none", "none"),
            ("inverse", "inverse frequency"),
            ("effective", "effective number of samples"),
        ],
        label="Weighted loss for imbalance",
    )
    cv_folds = WholeNumberField(
        min_value=2, max_value=10, label="Folds for out-of-sample probabilities"
    )
    devices = forms.CharField(
        required=False,  # empty: one device, as before the option existed
        initial="1",
        max_length=8,
        label="Devices",
        help_text=(
            "1, all, or a number N: train on N of the worker's GPUs with DDP (N CPU "
            "processes on a worker without GPUs). The cross-fitting folds run on one."
        ),
    )


FORM_DEFAULTS = ("epochs", "image_size", "pretrained", "cv_folds")


@require_http_methods(["GET", "POST"])
@login_required
def retrain(request, name: str, attribute: str):
    dataset = get_dataset_for_user(request, name)
    require_perm(request, "train")
    attr = Attribute.objects.filter(dataset=dataset, name=attribute).first()
    if attr is None:
        raise Http404(f"Dataset '{name}' has no attribute '{attribute}'.")
    defaults = default_options(dataset)
    initial = {"class_weighting": "none", "cv_folds": 3, "devices": "1", **defaults}
    # What the form's fields become when another architecture is picked (static/js/app.js).
    arch_defaults = {
        arch: {"pretrained": False}
        | {k: v for k, v in default_options(dataset, arch).items() if k in FORM_DEFAULTS}
        for arch, _ in RetrainForm.base_fields["arch"].choices  # type: ignore[attr-defined]
    }
    form = RetrainForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        options = dict(form.cleaned_data)
        try:
            run = start_training_run(
                dataset=dataset, attribute=attr, options=options, actor=request.user
            )
        except TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(run.get_absolute_url())
    context = {"dataset": dataset, "attribute": attr, "form": form, "arch_defaults": arch_defaults}
    status = 400 if request.method == "POST" else 200  # here after a POST: the form has errors
    return render(request, "curation/retrain.html", context, status=status)


@require_GET
@login_required
def run_list(request):
    require_viewer(request)
    runs = TrainingRun.objects.select_related("dataset", "attribute", "created_by").order_by("-id")
    runs = visible(request.user, runs)
    if request.GET.get("dataset"):
        runs = runs.filter(dataset__name=request.GET["dataset"])
    if request.GET.get("attribute"):
        runs = runs.filter(attribute__name=request.GET["attribute"])
    return render(request, "curation/run_list.html", {"runs": runs[:200]})


@require_GET
@login_required
def run_detail(request, run_id: int):
    run = get_run_for_user(request, run_id)
    if request.htmx and request.htmx.target == "run-progress":
        return render(request, "curation/run_detail.html#progress", {"run": run})
    suspects = (
        RunImage.objects.filter(run=run, suspect_rank__isnull=False)
        .select_related("image", "given_label", "predicted_label")
        .order_by("suspect_rank")[:24]
    )
    promoted = getattr(run.attribute, "promoted", None) if run.attribute_id else None
    calibration = run_calibration(run)  # first: it fits and keeps T, which the next reads
    return render(
        request,
        "curation/run_detail.html",
        {
            "run": run,
            "suspects": suspects,
            "is_promoted": promoted is not None and promoted.run_id == run.pk,
            "sources": source_rows(run) if run.kind == TrainingRun.Kind.SIMILARITY else None,
            "calibration": calibration,
            "class_reliability": class_reliability(run),
            "pr_curves": class_pr_curves(run),
        },
    )


@require_POST
@login_required
def run_cancel(request, run_id: int):
    run = get_run_for_user(request, run_id)
    cancel_training_run(run=run, actor=request.user)
    messages.info(
        request,
        "Cancel requested: the run stops within one training step and keeps its checkpoint.",
    )
    return redirect(run.get_absolute_url())


@require_POST
@login_required
def run_promote(request, run_id: int):
    run = get_run_for_user(request, run_id)
    try:
        promote_training_run(run=run, actor=request.user)
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Run {run.pk} is now the current model for {run.attribute.name}.")
    return redirect(run.get_absolute_url())
