from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Catalog curation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from curation import auth_cache, login_limit  # noqa: F401  (login_limit: its deploy check)

        auth_cache.connect_signals()
