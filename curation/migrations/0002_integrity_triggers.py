"""Database triggers for the catalog's two promises.

1. A product's split, and its images' split, never changes: ORM save(), queryset.update(),
   bulk_update(), the admin and raw SQL all fail. The one exception is a pending SplitMove
   audit row for that product and target split (written by `manage.py move_split`).
   An image is also created only in its product's split and cannot move to another product
   of a different split.
2. Label history is append-only: LabelEvent rows are never updated (deleting a user may still
   clear `actor_id`).

On SQLite, Django rebuilds a table for some ALTERs, which drops its triggers: a migration that
alters these tables must re-run `install()`. tests/curation/test_split_immutability.py fails
if a trigger is missing.
"""

from django.db import migrations

SPLIT_MSG = "split is immutable: a product and its images keep their train/test split forever (use manage.py move_split for an audited taxonomy change)"
EVENT_MSG = "label history is append-only: LabelEvent rows cannot be changed"
EVENT_COLUMNS = "image_id, attribute_id, old_label_id, new_label_id, source, note, batch, reverts_id, flagged_by_run_id, created_at"

SQLITE = [
    f"""CREATE TRIGGER curation_product_split_guard BEFORE UPDATE OF split ON curation_product
    FOR EACH ROW WHEN NEW.split <> OLD.split AND NOT EXISTS (
        SELECT 1 FROM curation_splitmove m
        WHERE m.product_id = OLD.id AND m.pending = 1 AND m.new_split = NEW.split)
    BEGIN SELECT RAISE(ABORT, '{SPLIT_MSG}'); END""",
    f"""CREATE TRIGGER curation_image_split_guard BEFORE UPDATE OF split, product_id ON curation_image
    FOR EACH ROW WHEN (NEW.split <> OLD.split AND NOT EXISTS (
        SELECT 1 FROM curation_splitmove m
        WHERE m.product_id = OLD.product_id AND m.pending = 1 AND m.new_split = NEW.split))
      OR NEW.split <> (SELECT p.split FROM curation_product p WHERE p.id = NEW.product_id)
    BEGIN SELECT RAISE(ABORT, '{SPLIT_MSG}'); END""",
    """CREATE TRIGGER curation_image_split_on_insert BEFORE INSERT ON curation_image
    FOR EACH ROW WHEN NEW.split <> (SELECT p.split FROM curation_product p WHERE p.id = NEW.product_id)
    BEGIN SELECT RAISE(ABORT, 'an image must be created in its product''s split'); END""",
    f"""CREATE TRIGGER curation_labelevent_append_only BEFORE UPDATE OF {EVENT_COLUMNS}
    ON curation_labelevent
    BEGIN SELECT RAISE(ABORT, '{EVENT_MSG}'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS curation_product_split_guard",
    "DROP TRIGGER IF EXISTS curation_image_split_guard",
    "DROP TRIGGER IF EXISTS curation_image_split_on_insert",
    "DROP TRIGGER IF EXISTS curation_labelevent_append_only",
]

POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION curation_product_split_guard() RETURNS trigger AS $$
    BEGIN
      IF NEW.split IS DISTINCT FROM OLD.split AND NOT EXISTS (
          SELECT 1 FROM curation_splitmove m
          WHERE m.product_id = OLD.id AND m.pending AND m.new_split = NEW.split) THEN
        RAISE EXCEPTION '{SPLIT_MSG}' USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER curation_product_split_guard BEFORE UPDATE ON curation_product
    FOR EACH ROW EXECUTE FUNCTION curation_product_split_guard()""",
    f"""CREATE OR REPLACE FUNCTION curation_image_split_guard() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.split IS DISTINCT FROM OLD.split AND NOT EXISTS (
          SELECT 1 FROM curation_splitmove m
          WHERE m.product_id = OLD.product_id AND m.pending AND m.new_split = NEW.split) THEN
        RAISE EXCEPTION '{SPLIT_MSG}' USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      IF NEW.split IS DISTINCT FROM (SELECT p.split FROM curation_product p WHERE p.id = NEW.product_id) THEN
        RAISE EXCEPTION 'an image must be in its product''s split' USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER curation_image_split_guard BEFORE INSERT OR UPDATE ON curation_image
    FOR EACH ROW EXECUTE FUNCTION curation_image_split_guard()""",
    f"""CREATE OR REPLACE FUNCTION curation_labelevent_append_only() RETURNS trigger AS $$
    BEGIN
      IF (NEW.image_id, NEW.attribute_id, NEW.old_label_id, NEW.new_label_id, NEW.source,
          NEW.note, NEW.batch, NEW.reverts_id, NEW.flagged_by_run_id, NEW.created_at)
         IS DISTINCT FROM
         (OLD.image_id, OLD.attribute_id, OLD.old_label_id, OLD.new_label_id, OLD.source,
          OLD.note, OLD.batch, OLD.reverts_id, OLD.flagged_by_run_id, OLD.created_at) THEN
        RAISE EXCEPTION '{EVENT_MSG}' USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER curation_labelevent_append_only BEFORE UPDATE ON curation_labelevent
    FOR EACH ROW EXECUTE FUNCTION curation_labelevent_append_only()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS curation_product_split_guard ON curation_product",
    "DROP TRIGGER IF EXISTS curation_image_split_guard ON curation_image",
    "DROP TRIGGER IF EXISTS curation_labelevent_append_only ON curation_labelevent",
    "DROP FUNCTION IF EXISTS curation_product_split_guard()",
    "DROP FUNCTION IF EXISTS curation_image_split_guard()",
    "DROP FUNCTION IF EXISTS curation_labelevent_append_only()",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, SQLITE_DROP + SQLITE)
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRES_DROP + POSTGRES)
    else:
        raise RuntimeError(f"no split-immutability triggers for the {vendor} database")


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, SQLITE_DROP if vendor == "sqlite" else POSTGRES_DROP)


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
