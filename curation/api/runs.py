"""REST API for training runs (classifier and similarity): start (202), status, cancel, resume
(202), promote, suspects, predictions."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from curation.access import get_dataset_for_user, get_run_for_user
from curation.api.openapi import cursor_page, page_parameters, request_header, response_header
from curation.api.views import IdCursor
from curation.models import Annotation, Attribute, RunImage, TrainingRun
from curation.queries.review_answers import spot_checks
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.control import (
    WeakRunError,
    cancel_training_run,
    promote_training_run,
)
from curation.services.runs.idempotency import KeyReused, check_key, start_once
from curation.services.runs.options import TrainingError
from curation.services.runs.resume import resume_training_run
from curation.services.runs.similarity_start import start_similarity_run


class RunSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    attribute = serializers.CharField(source="attribute.name", allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    percent = serializers.IntegerField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "dataset",
            "attribute",
            "kind",
            "status",
            "cancel_requested",
            "percent",
            "progress",
            "loss_curve",
            "attempts",
            "train_count",
            "test_count",
            "config",
            "label_names",
            "metrics",
            "strength",
            "artifact_uri",
            "error",
            "failed_phase",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class StartRunSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=TrainingRun.Kind.choices,
        default=TrainingRun.Kind.CLASSIFIER,
        help_text="classifier: one attribute's labels; similarity: the look-alike embedding",
    )
    attribute = serializers.CharField(
        required=False, default="", help_text="the attribute to learn (classifier runs only)"
    )
    options = serializers.DictField(
        required=False, default=dict, help_text='e.g. {"arch": "resnet50", "epochs": 5}'
    )

    def validate(self, data):
        if data["kind"] == TrainingRun.Kind.CLASSIFIER and not data["attribute"]:
            raise ValidationError({"attribute": "a classifier run needs the attribute to learn"})
        if data["kind"] == TrainingRun.Kind.SIMILARITY and data["attribute"]:
            raise ValidationError(
                {"attribute": "a similarity run learns from every attribute; leave it out"}
            )
        return data


class RunImageSerializer(serializers.ModelSerializer):
    source_path = serializers.CharField(source="image.source_path")
    given_label = serializers.CharField(source="given_label.name")
    predicted_label = serializers.CharField(
        source="predicted_label.name", allow_null=True, default=None
    )

    class Meta:
        model = RunImage
        fields = [
            "image_id",
            "source_path",
            "split",
            "given_label",
            "predicted_label",
            "confidence",
            "given_probability",
            "probs",
            "out_of_sample",
            "quality",
            "suspect_rank",
        ]


class ReviewRowSerializer(RunImageSerializer):
    """A row of the review order: where it stands, whether cleanlab flagged it, and the
    label version to send in If-Match, so a fix is one PATCH."""

    flagged = serializers.SerializerMethodField()
    label_version = serializers.IntegerField(allow_null=True)

    class Meta(RunImageSerializer.Meta):
        fields = [*RunImageSerializer.Meta.fields, "review_rank", "flagged", "label_version"]

    def get_flagged(self, row: RunImage) -> bool:
        return row.suspect_rank is not None


@extend_schema(
    request=StartRunSerializer,
    parameters=[
        request_header(
            "Idempotency-Key",
            description=(
                "1-64 letters, digits or - _ . : (a UUID): a repeat with the same key starts "
                "nothing and answers 200 with the first run"
            ),
        ),
        response_header(
            "Location", statuses=[200, 202], description="the run's URL, to follow its progress"
        ),
    ],
    responses={
        202: inline_serializer("RunStarted", {"id": serializers.IntegerField()}),
        200: OpenApiResponse(description="the run this Idempotency-Key started before"),
        409: OpenApiResponse(description="the Idempotency-Key started a different run"),
    },
)
@api_view(["POST"])
def run_start(request):
    body = StartRunSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    try:
        key = check_key(request.headers.get("Idempotency-Key"))
    except TrainingError as exc:
        raise ValidationError({"Idempotency-Key": str(exc)}) from exc
    dataset = get_dataset_for_user(request, data["dataset"])
    try:
        run, created = start_run(request, dataset, data, key)
    except KeyReused as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    except TrainingError as exc:
        raise ValidationError({"options": str(exc), "option": exc.option or ""}) from exc
    return Response(
        {"id": run.pk},
        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        headers={"Location": f"/api/runs/{run.pk}/"},
    )


def start_run(request, dataset, data, key: str) -> tuple[TrainingRun, bool]:
    """(run, created) for a valid start request: a new run, or the one `key` started."""
    if data["kind"] == TrainingRun.Kind.SIMILARITY:
        return start_once(
            start_similarity_run,
            dataset=dataset,
            idempotency_key=key,
            options=data["options"],
            actor=request.user,
        )
    attribute = Attribute.objects.filter(dataset=dataset, name=data["attribute"]).first()
    if attribute is None:
        raise ValidationError(
            {"attribute": f"dataset '{dataset.name}' has no attribute '{data['attribute']}'"}
        )
    return start_once(
        start_training_run,
        dataset=dataset,
        idempotency_key=key,
        attribute_id=attribute.pk,
        attribute=attribute,
        options=data["options"],
        actor=request.user,
    )


@extend_schema(responses=RunSerializer)
@api_view(["GET"])
def run_detail(request, run_id: int):
    return Response(RunSerializer(get_run_for_user(request, run_id)).data)


@extend_schema(request=None, responses=RunSerializer)
@api_view(["POST"])
def run_cancel(request, run_id: int):
    run = cancel_training_run(run=get_run_for_user(request, run_id), actor=request.user)
    return Response(RunSerializer(run).data)


class PromoteSerializer(serializers.Serializer):
    confirm_weak = serializers.BooleanField(
        required=False,
        default=False,
        help_text="promote a weak run (test accuracy not clearly above the majority-class "
        "baseline) anyway",
    )


@extend_schema(
    request=None,
    responses={
        202: RunSerializer,
        409: OpenApiResponse(description="the run can't be resumed (the body says why)"),
    },
)
@api_view(["POST"])
def run_resume(request, run_id: int):
    """Queue a cancelled or failed run again; it continues from its checkpoint."""
    run = get_run_for_user(request, run_id)
    try:
        run = resume_training_run(run=run, actor=request.user)
    except TrainingError as exc:
        body = {"detail": str(exc), "option": exc.option or ""}
        return Response(body, status=status.HTTP_409_CONFLICT)
    return Response(
        RunSerializer(run).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/api/runs/{run.pk}/"},
    )


@extend_schema(
    request=PromoteSerializer,
    responses={
        200: RunSerializer,
        409: OpenApiResponse(
            description="the run can't be promoted (the body says why); a weak run without "
            "confirm_weak names confirm_weak"
        ),
    },
)
@api_view(["POST"])
def run_promote(request, run_id: int):
    run = get_run_for_user(request, run_id)
    body = PromoteSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        promote_training_run(
            run=run, actor=request.user, confirm_weak=body.validated_data["confirm_weak"]
        )
    except WeakRunError as exc:
        return Response(
            {"detail": str(exc), "confirm_weak": "required: the run is weak"},
            status=status.HTTP_409_CONFLICT,
        )
    except TrainingError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return Response(RunSerializer(run).data)


def _rows(run):
    return RunImage.objects.filter(run=run).select_related(
        "image", "given_label", "predicted_label"
    )


class ReviewOrderCursor(IdCursor):
    ordering = "review_rank"


class SuspectCursor(IdCursor):
    ordering = "suspect_rank"


def _choice(request, name: str, allowed: dict[str, object]):
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in allowed:
        raise ValidationError({name: f"must be one of {', '.join(allowed)}"})
    return allowed[raw]


@extend_schema(
    parameters=[
        OpenApiParameter("flagged", str, enum=["true", "false"]),
        OpenApiParameter("split", str, enum=["train", "test"]),
        OpenApiParameter(
            "spot_check",
            str,
            enum=["true"],
            description="the run's spot checks only: a uniform random sample of its images, "
            "whose answers (votes, fixes) count the wrong labels left",
        ),
        *page_parameters(IdCursor),
    ],
    responses=cursor_page(ReviewRowSerializer),
    operation_id="runs_suspects_list",
)
@api_view(["GET"])
def run_suspects(request, run_id: int):
    """Every scored image of the run in its review order (the flagged test images first,
    then lowest label quality first, train and test alike); flagged=true keeps cleanlab's
    flagged set. Runs from before the review order list their flagged set only."""
    run = get_run_for_user(request, run_id)
    flagged = _choice(request, "flagged", {"true": True, "false": False})
    split = _choice(request, "split", {"train": "train", "test": "test"})
    spot = _choice(request, "spot_check", {"true": True})
    rows = _rows(run).annotate(
        label_version=Subquery(
            Annotation.objects.filter(
                image_id=OuterRef("image_id"), attribute_id=run.attribute_id
            ).values("version")[:1]
        )
    )
    if rows.filter(review_rank__isnull=False).exists():
        paginator: IdCursor = ReviewOrderCursor()
        rows = rows.filter(review_rank__isnull=False)
    else:
        paginator = SuspectCursor()
        rows = rows.filter(suspect_rank__isnull=False)
    if flagged is not None:
        rows = rows.filter(suspect_rank__isnull=not flagged)
    if split is not None:
        rows = rows.filter(split=split)
    if spot:
        rows = rows.filter(image_id__in=spot_checks(run))
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response(ReviewRowSerializer(page, many=True).data)


@extend_schema(
    parameters=[OpenApiParameter("split", str, enum=["train", "test"]), *page_parameters(IdCursor)],
    responses=cursor_page(RunImageSerializer),
    operation_id="runs_predictions_list",
)
@api_view(["GET"])
def run_predictions(request, run_id: int):
    """Every image of the run with its label, prediction and all label probabilities."""
    run = get_run_for_user(request, run_id)
    rows = _rows(run)
    split = request.query_params.get("split")
    if split:
        if split not in {"train", "test"}:
            raise ValidationError({"split": "must be train or test"})
        rows = rows.filter(split=split)
    paginator = IdCursor()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response(RunImageSerializer(page, many=True).data)
