from django.contrib import admin

from curation import models
from curation.services.datasets import set_dataset_teams


class AttributeInline(admin.TabularInline):
    model = models.Attribute
    extra = 0


@admin.register(models.Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "test_fraction", "is_synthetic", "created_at")
    list_filter = ("teams",)
    # Teams (groups that are not roles) who alone may see the dataset; none: open to every role.
    filter_horizontal = ("teams",)
    inlines = [AttributeInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Through the service, so the admin keeps the one rule (roles are not teams).
        set_dataset_teams(dataset=form.instance, teams=form.cleaned_data["teams"])


@admin.register(models.Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "attribute", "position")
    list_select_related = ("attribute",)
    list_filter = ("attribute__dataset",)


@admin.register(models.Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "source_path", "dataset", "split", "status", "format", "width", "height")
    list_filter = ("dataset", "split", "status")
    list_select_related = ("dataset",)
    search_fields = ("source_path", "sha256")
    raw_id_fields = ("product",)
    readonly_fields = ("split",)  # fixed forever; see manage.py move_split


@admin.register(models.Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("key", "dataset", "split")
    list_filter = ("dataset", "split")
    search_fields = ("key",)
    readonly_fields = ("split",)  # fixed forever; see manage.py move_split


@admin.register(models.LabelEvent)
class LabelEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "image",
        "attribute",
        "old_label",
        "new_label",
        "source",
        "actor",
        "created_at",
    )
    list_filter = ("source",)
    list_select_related = ("image", "attribute", "old_label", "new_label", "actor")
    raw_id_fields = ("image", "reverts")

    def has_change_permission(self, request, obj=None):
        return False  # history is append-only


@admin.register(models.SplitMove)
class SplitMoveAdmin(admin.ModelAdmin):
    list_display = ("product", "old_split", "new_split", "actor", "reason", "created_at")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Quarantine)
class QuarantineAdmin(admin.ModelAdmin):
    list_display = ("image", "reason", "actor", "created_at")
    raw_id_fields = ("image",)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset_name", "source", "status", "done", "total", "created_at")
