"""REST API: classify an uploaded photo, or catalog images, with a dataset's promoted models."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from curation.access import get_dataset_for_user
from curation.api.serializers import ScoreSuggestionSerializer, WholeNumberField
from curation.queries import classify


class ClassifyImagesRequest(serializers.Serializer):
    dataset = serializers.CharField(help_text="whose promoted models answer")
    images = serializers.ListField(
        child=WholeNumberField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=classify.MAX_IMAGES,
        help_text=f"ids of catalog images of the dataset, at most {classify.MAX_IMAGES}",
    )


class ClassifyAttributeSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    run = serializers.IntegerField(source="run_id", help_text="the model version (run id)")
    top = serializers.CharField(source="top.name", help_text="the most probable label")
    probabilities = ScoreSuggestionSerializer(
        source="labels", many=True, help_text="every label, most probable first; sums to 1"
    )


class ClassifyCropSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=4,
        max_length=4,
        help_text="x0, y0, x1, y1 in pixels of the photo (x1, y1 exclusive), before a 5% margin",
    )
    width = serializers.IntegerField(help_text="of the photo")
    height = serializers.IntegerField()


class ClassifyResultSerializer(serializers.Serializer):
    image = serializers.IntegerField(
        allow_null=True, help_text="the catalog image's id; null for an uploaded photo"
    )
    crop = ClassifyCropSerializer(
        allow_null=True,
        help_text="the dress box an uploaded photo was cropped to; null: the whole photo "
        "(no localizer for this dataset) or a catalog image",
    )
    attributes = ClassifyAttributeSerializer(many=True)
    unscored = serializers.ListField(
        child=serializers.CharField(),
        help_text="attributes whose promoted model has not scored this catalog image yet",
    )


class ClassifyResponse(serializers.Serializer):
    dataset = serializers.CharField()
    results = ClassifyResultSerializer(
        many=True, help_text="one per photo or image id, in the order asked (a repeated id once)"
    )


def photo_result(found: classify.PhotoScores) -> dict:
    crop = found.crop
    return {
        "image": None,
        "crop": None
        if crop is None
        else {"box": list(crop.box), "width": crop.width, "height": crop.height},
        "attributes": ClassifyAttributeSerializer(found.attributes, many=True).data,
        "unscored": [],
    }


def image_result(found: classify.ImageScores) -> dict:
    return {
        "image": found.image_id,
        "crop": None,
        "attributes": ClassifyAttributeSerializer(found.attributes, many=True).data,
        "unscored": found.unscored,
    }


@extend_schema(
    request={
        "multipart/form-data": {
            "type": "object",
            "properties": {
                "dataset": {"type": "string", "description": "whose promoted models answer"},
                "image": {"type": "string", "format": "binary", "description": "the photo"},
            },
            "required": ["dataset", "image"],
        },
        "application/json": ClassifyImagesRequest,
    },
    responses={
        200: ClassifyResponse,
        400: OpenApiResponse(
            description="no file, not an image, too big, unknown image ids, too many ids, or "
            "a dataset without promoted models; the body names the problem"
        ),
        403: OpenApiResponse(description="your account has no role yet"),
        404: OpenApiResponse(description="no such dataset"),
    },
    examples=[
        OpenApiExample(
            "catalog images",
            value={"dataset": "dresses", "images": [12, 13]},
            request_only=True,
            media_type="application/json",
        )
    ],
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser, JSONParser])
def classify_images(request):
    """Every attribute's label probabilities from the dataset's promoted models: for an
    uploaded photo (multipart `dataset` + `image`; cropped to the dress where the dataset's
    similarity index has a localizer), or for catalog images (JSON `{"dataset", "images"}`,
    answered from their stored scores). Any role may classify."""
    if not isinstance(request.data, dict):
        raise ValidationError(
            {"detail": 'send a JSON object {"dataset": ..., "images": [ids]}, or a photo'}
        )
    fields = request.data
    upload = request.FILES.get("image")
    is_form = (request.content_type or "").startswith(("multipart/", "application/x-www-form"))
    if upload is None and (is_form or "image" in fields):
        raise ValidationError(
            {
                "image": "attach the photo as a file field named 'image' (or send JSON "
                '{"dataset": ..., "images": [ids]} for catalog images)'
            }
        )
    if upload is not None:
        name = str(fields.get("dataset") or "")
        if not name:
            raise ValidationError({"dataset": "name the dataset whose models should answer"})
        dataset = get_dataset_for_user(request, name)
        data = upload.read(classify.max_photo_bytes() + 1)
        found = run(lambda: [photo_result(classify.classify_photo(dataset, data, upload.name))])
        return Response({"dataset": dataset.name, "results": found})
    body = ClassifyImagesRequest(data=request.data)
    body.is_valid(raise_exception=True)
    dataset = get_dataset_for_user(request, body.validated_data["dataset"])
    ids = body.validated_data["images"]
    found = run(lambda: [image_result(r) for r in classify.catalog_scores(dataset, ids)])
    return Response({"dataset": dataset.name, "results": found})


def run(call):
    try:
        return call()
    except classify.ClassifyError as exc:
        raise ValidationError({"detail": str(exc)}) from None
