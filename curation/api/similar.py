"""REST API for similar dresses: look-alikes of a catalog image and of an uploaded photo."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from curation.access import get_dataset_for_user, get_image_for_user
from curation.queries import search

K = {"type": "integer", "minimum": 1, "maximum": search.MAX_K, "default": 12}
QUERY = [
    OpenApiParameter("k", K, description=f"how many results, 1-{search.MAX_K} (default 12)"),
    OpenApiParameter("differs_in", OpenApiTypes.STR, description="attribute that must differ"),
    OpenApiParameter("value", OpenApiTypes.STR, description="the label it must have instead"),
]


class HitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    score = serializers.FloatField(help_text="cosine similarity of the embeddings")
    agreements = serializers.IntegerField(
        allow_null=True, help_text="other attributes equal to the query's (differs_in only)"
    )
    labels = serializers.DictField(
        child=serializers.CharField(), help_text='attribute -> label ("?" when unlabelled)'
    )
    url = serializers.URLField()
    source_path = serializers.CharField()


ImageHits = inline_serializer(
    "ImageHits", {"image": serializers.IntegerField(), "results": HitSerializer(many=True)}
)
UploadHits = inline_serializer(
    "UploadHits", {"dataset": serializers.CharField(), "results": HitSerializer(many=True)}
)


def _search(call) -> Response:
    try:
        return Response(call())
    except search.SearchError as exc:
        raise ValidationError({"detail": str(exc)}) from None


@extend_schema(
    parameters=QUERY,
    responses={200: ImageHits, 400: OpenApiResponse(description="bad query or no index")},
)
@api_view(["GET"])
def image_similar(request, image_id: int):
    """Look-alikes of a catalog image, optionally 'but with another <attribute> [= value]'."""
    image = get_image_for_user(request, image_id)
    return _search(
        lambda: {
            "image": image.pk,
            "results": search.hits_json(
                search.similar_to_image(image, search.parse_query(request.query_params)),
                request,
            ),
        }
    )


@extend_schema(
    request={
        "multipart/form-data": {
            "type": "object",
            "properties": {
                "dataset": {"type": "string"},
                "photo": {"type": "string", "format": "binary"},
                "k": K,
                "differs_in": {"type": "string"},
                "value": {"type": "string"},
            },
            "required": ["dataset", "photo"],
        }
    },
    responses={200: UploadHits, 400: OpenApiResponse(description="bad photo or query")},
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def upload_similar(request):
    """Look-alikes of an uploaded photo in one dataset."""
    name = str(request.data.get("dataset") or "")
    if not name:
        raise ValidationError({"dataset": "name the dataset to search"})
    dataset = get_dataset_for_user(request, name)
    photo = request.data.get("photo")
    if photo is None or not hasattr(photo, "read"):
        raise ValidationError({"photo": "attach the photo as a file field named 'photo'"})
    return _search(
        lambda: {
            "dataset": dataset.name,
            "results": search.hits_json(
                search.similar_to_upload(
                    dataset, photo.read(), photo.name, search.parse_query(request.data)
                ),
                request,
            ),
        }
    )
