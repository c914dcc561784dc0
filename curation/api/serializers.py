from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from curation import params
from curation.models import Annotation, Attribute, Dataset, Image, LabelEvent
from curation.queries.scores import ModelScores, scores_for_images


class WholeNumberField(serializers.IntegerField):
    """An IntegerField that takes only what curation.params takes: a JSON integer, or a
    string of ASCII digits (DRF's own also reads 1e3 as 1000, "١٢" and " 12")."""

    def to_internal_value(self, data):
        try:
            value = params.parse_int(data, self.field_name or "value")
        except params.BadParameter:
            self.fail("invalid")
        return super().to_internal_value(value)


class AttributeSerializer(serializers.ModelSerializer):
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Attribute
        fields = ["name", "position", "labels"]

    def get_labels(self, obj) -> list[str]:
        return [label.name for label in obj.labels.all()]


class DatasetSerializer(serializers.ModelSerializer):
    attributes = AttributeSerializer(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "name",
            "title",
            "description",
            "test_fraction",
            "is_synthetic",
            "created_at",
            "attributes",
        ]


class AnnotationSerializer(serializers.ModelSerializer):
    attribute = serializers.CharField(source="attribute.name")
    label = serializers.CharField(source="label.name", allow_null=True, default=None)
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)

    class Meta:
        model = Annotation
        fields = ["attribute", "label", "version", "last_source", "updated_by", "updated_at"]


class ScoreSuggestionSerializer(serializers.Serializer):
    """A label and a model's probability of it (an image's scores, /api/classify/)."""

    label = serializers.CharField(source="name")
    probability = serializers.FloatField(help_text="calibrated with the run's temperature")


class ModelScoresSerializer(serializers.Serializer):
    """One attribute's current (promoted) model scores for an image."""

    attribute = serializers.CharField()
    run = serializers.IntegerField(source="run_id", help_text="the model version (run id)")
    top = ScoreSuggestionSerializer(many=True, help_text="the most probable labels, best first")
    predicted = serializers.CharField(source="predicted.name", help_text="the top label")
    given = serializers.CharField(allow_null=True, help_text="today's label, null if none")
    disagrees = serializers.BooleanField(help_text="the given label is not the top label")
    from_run = serializers.BooleanField(
        help_text="the image was in the model's own run (its score comes from the run)"
    )
    out_of_sample = serializers.BooleanField(help_text="a training image's cross-fitted score")


class ImageSerializer(serializers.ModelSerializer):
    """context["scores"] (image id -> [ModelScores]), when given, holds the scores of a
    whole page, read in one batch; without it each image reads its own."""

    dataset = serializers.CharField(source="dataset.name")
    product = serializers.CharField(source="product.key")
    labels = AnnotationSerializer(source="annotations", many=True, read_only=True)
    thumbnail_url = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "dataset",
            "product",
            "split",
            "source_path",
            "sha256",
            "width",
            "height",
            "format",
            "phash",
            "size_bytes",
            "status",
            "quarantine_reason",
            "thumbnail_url",
            "labels",
            "scores",
            "tags",
            "created_at",
        ]

    @extend_schema_field(ModelScoresSerializer(many=True))
    def get_scores(self, obj) -> list[dict]:
        batch = self.context.get("scores")
        if batch is None:
            batch = scores_for_images([obj.pk], dataset_id=obj.dataset_id)
        found: list[ModelScores] = batch.get(obj.pk, [])
        return ModelScoresSerializer(found, many=True).data

    def get_tags(self, obj) -> list[str]:
        """The image's tag names, A-Z (image_tags prefetched with their tags)."""
        return sorted(it.tag.name for it in obj.image_tags.all())

    def get_thumbnail_url(self, obj) -> str | None:
        if not obj.thumbnail:
            return None
        request = self.context.get("request")
        path = f"/images/{obj.pk}/thumb/"
        return request.build_absolute_uri(path) if request else path


class LabelPatchSerializer(serializers.Serializer):
    attribute = serializers.CharField(help_text="attribute name, e.g. neckline")
    label = serializers.CharField(allow_null=True, help_text="label name, or null to clear")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    flagged_by_run = WholeNumberField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**63 - 1,
        help_text="the training run whose review order led to this fix (kept in the history)",
    )


class LabelEventSerializer(serializers.ModelSerializer):
    attribute = serializers.CharField(source="attribute.name")
    old_label = serializers.CharField(source="old_label.name", allow_null=True, default=None)
    new_label = serializers.CharField(source="new_label.name", allow_null=True, default=None)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = LabelEvent
        fields = [
            "id",
            "attribute",
            "old_label",
            "new_label",
            "actor",
            "source",
            "note",
            "batch",
            "reverts",
            "flagged_by_run_id",
            "created_at",
        ]


class TagBodySerializer(serializers.Serializer):
    tag = serializers.CharField(
        max_length=80, help_text="a tag name, e.g. ambiguous or reshoot (made on first use)"
    )


class ImageTagsSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(), help_text="the image's tags, A-Z")
