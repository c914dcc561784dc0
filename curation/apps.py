from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Catalog curation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from curation import auth_cache

        auth_cache.connect_signals()
