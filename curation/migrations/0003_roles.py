"""Roles as Django groups: viewer (read), merchandiser (relabel, review), data scientist (also
retrain, manage datasets), admin (everything, including the Django admin through is_staff)."""

from django.db import migrations

ROLES = {
    "viewer": [],
    "merchandiser": ["relabel_image", "review_label"],
    "data_scientist": ["relabel_image", "review_label", "start_training", "manage_dataset"],
    "admin": ["relabel_image", "review_label", "start_training", "manage_dataset"],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("curation")
    app_config.models_module = True  # create_permissions skips apps without models otherwise
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(
            content_type__app_label="curation", codename__in=codenames
        )
        group.permissions.set(perms)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0002_integrity_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, drop_roles)]
