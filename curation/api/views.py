"""REST API: datasets, images (filtered, cursor-paginated), labels with If-Match, history."""

from __future__ import annotations

import binascii
from base64 import b64decode
from urllib import parse

from django.db.models import Prefetch
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from curation import params
from curation.access import (
    get_dataset_for_user,
    get_image_for_user,
    require_viewer,
    visible_datasets,
)
from curation.api.openapi import cursor_page, page_parameters, request_header, response_header
from curation.api.serializers import (
    AnnotationSerializer,
    DatasetSerializer,
    ImageSerializer,
    ImageTagsSerializer,
    LabelEventSerializer,
    LabelPatchSerializer,
    TagBodySerializer,
)
from curation.models import (
    Annotation,
    Attribute,
    Image,
    ImageStatus,
    ImageTag,
    Label,
    LabelEvent,
    Split,
    TrainingRun,
)
from curation.queries.scores import scores_for_images
from curation.services.labels import StaleLabel, relabel_image
from curation.services.tags import BadTag, tag_images, untag_images

# What image_labels takes in If-Match: a version, quoted or not, weak or not ("3", W/"3", 3).
IF_MATCH_PATTERN = r'^\s*(W/)?"?[0-9]{1,%d}"?\s*$' % params.MAX_DIGITS  # noqa: UP031


class IdCursor(CursorPagination):
    """Cursor pages over an integer column. Stricter than DRF's: a page_size that isn't a
    whole number from 1 to 500 is a 400, and a cursor that isn't one of ours a 404, where DRF
    would quietly serve the first page (or fail inside the query)."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        return params.int_param(
            request.query_params,
            self.page_size_query_param,
            low=1,
            high=self.max_page_size,
            default=self.page_size,
        )

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None:
            try:
                text = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
                tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
            except (ValueError, UnicodeError, binascii.Error):
                raise NotFound(self.invalid_cursor_message) from None
            if set(tokens) - {"o", "r", "p"} or not _cursor_numbers_ok(tokens):
                raise NotFound(self.invalid_cursor_message)
        return super().decode_cursor(request)


def _cursor_numbers_ok(tokens: dict[str, list[str]]) -> bool:
    """The cursor's offset, reverse flag and position (an id or a rank) are plain numbers."""
    limits = {"o": params.MAX_ID, "r": 1, "p": params.MAX_ID}
    try:
        for key, values in tokens.items():
            for value in values:
                params.parse_int(value, "cursor", high=limits[key])
    except params.BadParameter:
        return False
    return True


class NewestFirstCursor(IdCursor):
    ordering = "-id"


def _datasets(user):
    return visible_datasets(user).prefetch_related(
        Prefetch("attributes", queryset=Attribute.objects.prefetch_related("labels"))
    )


@extend_schema(responses=DatasetSerializer(many=True))
@api_view(["GET"])
def dataset_list(request):
    require_viewer(request)
    datasets = _datasets(request.user).order_by("name")
    return Response(DatasetSerializer(datasets, many=True).data)


@extend_schema(responses=DatasetSerializer)
@api_view(["GET"])
def dataset_detail(request, name: str):
    get_dataset_for_user(request, name)
    return Response(DatasetSerializer(_datasets(request.user).get(name=name)).data)


def image_rows():
    return Image.objects.select_related("dataset", "product").prefetch_related(
        Prefetch(
            "annotations",
            queryset=Annotation.objects.select_related("attribute", "label", "updated_by"),
        ),
        Prefetch("image_tags", queryset=ImageTag.objects.select_related("tag")),
    )


@extend_schema(
    parameters=[
        OpenApiParameter("dataset", str, required=True, description="dataset name"),
        OpenApiParameter("attribute", str, description="attribute name (needed with label)"),
        OpenApiParameter("label", str, description="label name, or 'none' for unlabelled"),
        OpenApiParameter("split", str, enum=Split.values),
        OpenApiParameter("status", str, enum=ImageStatus.values, description="default ok"),
        *page_parameters(IdCursor),
    ],
    responses=cursor_page(ImageSerializer),
    operation_id="images_list",
)
@api_view(["GET"])
def image_list(request):
    params = request.query_params
    if not params.get("dataset"):
        raise ValidationError({"dataset": "give the dataset name, e.g. ?dataset=fashion-mnist"})
    dataset = get_dataset_for_user(request, params["dataset"])
    qs = image_rows().filter(dataset=dataset)
    image_status = params.get("status", ImageStatus.OK)
    if image_status not in ImageStatus.values:
        raise ValidationError({"status": f"must be one of {', '.join(ImageStatus.values)}"})
    qs = qs.filter(status=image_status)
    if params.get("split"):
        if params["split"] not in Split.values:
            raise ValidationError({"split": "must be train or test"})
        qs = qs.filter(split=params["split"])
    if params.get("label") and not params.get("attribute"):
        raise ValidationError({"attribute": "give the attribute the label belongs to"})
    if params.get("attribute"):
        attribute = Attribute.objects.filter(dataset=dataset, name=params["attribute"]).first()
        if attribute is None:
            raise ValidationError(
                {"attribute": f"dataset '{dataset.name}' has no attribute '{params['attribute']}'"}
            )
        label_name = params.get("label")
        if label_name == "none":
            qs = qs.filter(annotations__attribute=attribute, annotations__label__isnull=True)
        elif label_name:
            label = Label.objects.filter(attribute=attribute, name=label_name).first()
            if label is None:
                raise ValidationError(
                    {"label": f"'{label_name}' is not a label of {attribute.name}"}
                )
            qs = qs.filter(annotations__attribute=attribute, annotations__label=label)
    paginator = IdCursor()
    page = paginator.paginate_queryset(qs, request)
    scores = scores_for_images([im.pk for im in page], dataset_id=dataset.pk)
    return paginator.get_paginated_response(
        ImageSerializer(page, many=True, context={"request": request, "scores": scores}).data
    )


@extend_schema(responses=ImageSerializer)
@api_view(["GET"])
def image_detail(request, image_id: int):
    get_image_for_user(request, image_id)
    image = image_rows().get(pk=image_id)
    return Response(ImageSerializer(image, context={"request": request}).data)


@extend_schema(
    request=LabelPatchSerializer,
    parameters=[
        request_header(
            "If-Match",
            {"type": "string", "pattern": IF_MATCH_PATTERN},
            required=True,
            description='the label\'s current version (from GET), e.g. "3"',
        ),
        response_header(
            "ETag", statuses=[200, 412], description='the label\'s version now, e.g. "4"'
        ),
    ],
    responses={
        200: AnnotationSerializer,
        412: OpenApiResponse(
            inline_serializer(
                "StaleLabel",
                {"detail": serializers.CharField(), "current": AnnotationSerializer()},
            ),
            description="stale version: the body holds the current label",
        ),
        428: OpenApiResponse(description="If-Match header missing"),
    },
)
@api_view(["PATCH"])
def image_labels(request, image_id: int):
    """Change one attribute's label. Send the version you saw in If-Match."""
    image = get_image_for_user(request, image_id)
    body = LabelPatchSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    attribute = Attribute.objects.filter(
        dataset_id=image.dataset_id, name=body.validated_data["attribute"]
    ).first()
    if attribute is None:
        raise ValidationError(
            {"attribute": f"no attribute '{body.validated_data['attribute']}' in this dataset"}
        )
    label = None
    if body.validated_data["label"] is not None:
        label = Label.objects.filter(attribute=attribute, name=body.validated_data["label"]).first()
        if label is None:
            known = ", ".join(attribute.labels.values_list("name", flat=True))
            raise ValidationError(
                {
                    "label": (
                        f"'{body.validated_data['label']}' is not a label of "
                        f"{attribute.name} ({known})"
                    )
                }
            )
    flagged_by = body.validated_data["flagged_by_run"]
    if (
        flagged_by is not None
        and not TrainingRun.objects.filter(
            pk=flagged_by, attribute=attribute, kind=TrainingRun.Kind.CLASSIFIER
        ).exists()
    ):
        raise ValidationError(
            {"flagged_by_run": f"there is no classifier run #{flagged_by} of {attribute.name}"}
        )
    if_match = request.headers.get("If-Match")
    if not if_match:
        return Response(
            {
                "detail": (
                    "send If-Match with the label version you are changing "
                    "(see GET /api/images/{id}/)"
                )
            },
            status=status.HTTP_428_PRECONDITION_REQUIRED,
        )
    expected = params.parse_int(if_match.strip().removeprefix("W/").strip('"'), "If-Match")
    try:
        annotation, _ = relabel_image(
            image=image,
            attribute=attribute,
            label=label,
            actor=request.user,
            expected_version=expected,
            note=body.validated_data["note"],
            flagged_by_run_id=flagged_by,
        )
    except StaleLabel as exc:
        current = Annotation.objects.select_related("attribute", "label", "updated_by").get(
            pk=exc.annotation.pk
        )
        return Response(
            {"detail": str(exc), "current": AnnotationSerializer(current).data},
            status=status.HTTP_412_PRECONDITION_FAILED,
            headers={"ETag": f'"{current.version}"'},
        )
    annotation = Annotation.objects.select_related("attribute", "label", "updated_by").get(
        pk=annotation.pk
    )
    return Response(
        AnnotationSerializer(annotation).data, headers={"ETag": f'"{annotation.version}"'}
    )


@extend_schema(request=TagBodySerializer, responses=ImageTagsSerializer, methods=["POST", "DELETE"])
@api_view(["POST", "DELETE"])
def image_tags(request, image_id: int):
    """POST puts the tag on the image, DELETE takes it off; both answer the image's tags.
    Merchandisers and above."""
    image = get_image_for_user(request, image_id)
    body = TagBodySerializer(data=request.data)
    body.is_valid(raise_exception=True)
    write = tag_images if request.method == "POST" else untag_images
    try:
        write(
            dataset=image.dataset,
            image_ids=[image.pk],
            name=body.validated_data["tag"],
            actor=request.user,
        )
    except BadTag as exc:
        raise ValidationError({"tag": str(exc)}) from None
    names = ImageTag.objects.filter(image=image).order_by("tag__name")
    return Response({"tags": list(names.values_list("tag__name", flat=True))})


@extend_schema(
    parameters=page_parameters(NewestFirstCursor),
    responses=cursor_page(LabelEventSerializer),
    operation_id="images_history_list",
)
@api_view(["GET"])
def image_history(request, image_id: int):
    image = get_image_for_user(request, image_id)
    qs = LabelEvent.objects.filter(image=image).select_related(
        "attribute", "old_label", "new_label", "actor"
    )
    paginator = NewestFirstCursor()
    page = paginator.paginate_queryset(qs, request)
    return paginator.get_paginated_response(LabelEventSerializer(page, many=True).data)
