"""REST API for a run's review: a vote on one of its images, and the wrong labels it expects
are left."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from curation import roles
from curation.access import get_run_for_user
from curation.models import Label, TrainingRun
from curation.queries.quality import wrong_labels_left
from curation.services.reviews import ReviewError, cast_vote, queue_image


class VoteSerializer(serializers.Serializer):
    label = serializers.CharField(
        max_length=200, help_text="the label you see; the given one keeps it"
    )


VoteResult = inline_serializer(
    "VoteResult",
    {
        "image_id": serializers.IntegerField(),
        "status": serializers.CharField(help_text="open, decided or no_consensus"),
        "decided_label": serializers.CharField(allow_null=True),
    },
)


@extend_schema(
    request=VoteSerializer,
    responses={
        200: VoteResult,
        400: OpenApiResponse(description="the vote can't be taken; `detail` says why"),
    },
)
@api_view(["POST"])
def run_image_vote(request, run_id: int, image_id: int):
    """Vote for the label an image of the run's review order should have: the given label
    keeps it, another changes it once the dataset's rule decides (an expert's vote decides
    alone). A kept or changed label is an answer the run's wrong-label estimate learns from."""
    run = _classifier_run(request, run_id)
    roles.check(request.user, "vote")
    body = VoteSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    name = body.validated_data["label"]
    label = Label.objects.filter(attribute_id=run.attribute_id, name=name).first()
    if label is None:
        detail = f"'{name}' is not a label of {run.attribute.name}"
        return Response({"label": [detail]}, status=status.HTTP_400_BAD_REQUEST)
    try:
        item = queue_image(run=run, image_id=image_id)
        item = cast_vote(item=item, label=label, reviewer=request.user)
    except ReviewError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    decided = item.case.decided_label  # set by the decision, if this vote made one
    return Response(
        {"image_id": image_id, "status": item.status, "decided_label": decided and decided.name}
    )


WrongLeft = inline_serializer(
    "WrongLabelsLeft",
    {
        "estimated_at_run": serializers.FloatField(help_text="the confident joint, train + test"),
        "fixed": serializers.IntegerField(help_text="labels changed through the run's review"),
        "left": serializers.FloatField(help_text="the best estimate of what is left"),
        "learned": inline_serializer(
            "LearnedLeft",
            {
                "answers": serializers.IntegerField(),
                "found_wrong": serializers.IntegerField(),
                "spot_answers": serializers.IntegerField(),
                "low": serializers.FloatField(),
                "high": serializers.FloatField(),
                "by_split": serializers.DictField(child=serializers.FloatField()),
            },
            allow_null=True,
            help_text="counted from the answered spot checks; null until 30 are answered",
        ),
        "next_items": serializers.IntegerField(),
        "next_expected": serializers.FloatField(),
    },
)


@extend_schema(responses={200: WrongLeft})
@api_view(["GET"])
def run_wrong_labels(request, run_id: int):
    """How many wrong labels the run expects are left, and what its next open items hold."""
    run = _classifier_run(request, run_id)
    wrong = wrong_labels_left(run)
    if wrong is None:
        detail = f"run {run.pk} finished before runs estimated their wrong labels"
        return Response({"detail": detail}, status=status.HTTP_404_NOT_FOUND)
    learned = wrong.learned
    return Response(
        {
            "estimated_at_run": wrong.estimated,
            "fixed": wrong.fixed,
            "left": wrong.left,
            "learned": learned
            and {
                "answers": learned.answers,
                "found_wrong": learned.found_wrong,
                "spot_answers": learned.spot_answers,
                "low": learned.low,
                "high": learned.high,
                "by_split": learned.by_split,
            },
            "next_items": wrong.next_items,
            "next_expected": wrong.next_expected,
        }
    )


def _classifier_run(request, run_id: int) -> TrainingRun:
    run = get_run_for_user(request, run_id)
    if run.kind != TrainingRun.Kind.CLASSIFIER:
        raise Http404(f"Run #{run.pk} is a similarity run: it has no review.")
    return run
