"""PostgreSQL: the tally triggers of 0006 run once per statement, over its transition tables.

Per-row triggers upserted one counter row for every inserted image or annotation. Inside one
transaction each upsert leaves a new version of the same counter row behind, and the next
upsert walks all of them, so a COPY of n rows cost O(n²): seeding 1,000,000 images did not
finish in ten minutes. A statement-level trigger aggregates the statement's rows first and
touches each counter once. Counters are taken in key order, so two opposite relabels still
cannot deadlock, and an update that leaves labels alone (a version bump) touches none.

SQLite keeps the per-row triggers of 0006: it has no statement triggers, and its rows have no
versions to walk.
"""

import importlib

from django.db import migrations

_LABEL_UPSERT = "ON CONFLICT (attribute_id, label_key, split) DO UPDATE SET n = curation_labeltally.n + EXCLUDED.n"
_SPLIT_UPSERT = (
    "ON CONFLICT (dataset_id, split) DO UPDATE SET n = curation_splittally.n + EXCLUDED.n"
)


def _function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
    BEGIN
      {body};
      RETURN NULL;
    END $$ LANGUAGE plpgsql"""


def _label_deltas(rows: str, sign: int) -> str:
    """(attribute, label key, split, ±count) of `rows` (annotation rows) on ok images."""
    return f"""SELECT a.attribute_id, COALESCE(a.label_id, 0) AS label_key, i.split, {sign} AS d
      FROM {rows} a JOIN curation_image i ON i.id = a.image_id WHERE i.status = 'ok'"""


_ANNOTATION_UPD = f"""INSERT INTO curation_labeltally (attribute_id, label_key, split, n)
      SELECT attribute_id, label_key, split, SUM(d) FROM (
        {_label_deltas("old_rows", -1)}
        UNION ALL
        {_label_deltas("new_rows", 1)}
      ) deltas GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
      {_LABEL_UPSERT}"""


def _annotation_one_way(rows: str, sign: int) -> str:
    return f"""INSERT INTO curation_labeltally (attribute_id, label_key, split, n)
      SELECT attribute_id, label_key, split, SUM(d) FROM ({_label_deltas(rows, sign)}) deltas
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      {_LABEL_UPSERT}"""


def _image_one_way(rows: str, sign: int) -> str:
    return f"""INSERT INTO curation_splittally (dataset_id, split, n)
      SELECT dataset_id, split, {sign} * COUNT(*) FROM {rows} WHERE status = 'ok'
      GROUP BY 1, 2 ORDER BY 1, 2
      {_SPLIT_UPSERT}"""


# Images whose status or split changed: the split counters move, and so do the label
# counters of their annotations.
_MOVED = """WITH moved AS (
        SELECT o.id, o.dataset_id, o.split AS old_split, o.status = 'ok' AS old_ok,
               n.split AS new_split, n.status = 'ok' AS new_ok
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.status IS DISTINCT FROM n.status OR o.split IS DISTINCT FROM n.split
      )"""
_IMAGE_UPD = f"""{_MOVED}
      INSERT INTO curation_splittally (dataset_id, split, n)
      SELECT dataset_id, split, SUM(d) FROM (
        SELECT dataset_id, old_split AS split, -1 AS d FROM moved WHERE old_ok
        UNION ALL
        SELECT dataset_id, new_split, 1 FROM moved WHERE new_ok
      ) deltas GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
      {_SPLIT_UPSERT};
      {_MOVED}
      INSERT INTO curation_labeltally (attribute_id, label_key, split, n)
      SELECT attribute_id, label_key, split, SUM(d) FROM (
        SELECT a.attribute_id, COALESCE(a.label_id, 0) AS label_key, m.old_split AS split, -1 AS d
          FROM moved m JOIN curation_annotation a ON a.image_id = m.id WHERE m.old_ok
        UNION ALL
        SELECT a.attribute_id, COALESCE(a.label_id, 0), m.new_split, 1
          FROM moved m JOIN curation_annotation a ON a.image_id = m.id WHERE m.new_ok
      ) deltas GROUP BY 1, 2, 3 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3
      {_LABEL_UPSERT}"""

_TRIGGERS = [
    # (table, event, function name, body)
    (
        "curation_annotation",
        "INSERT",
        "curation_tally_annotation_ins",
        _annotation_one_way("new_rows", 1),
    ),
    (
        "curation_annotation",
        "DELETE",
        "curation_tally_annotation_del",
        _annotation_one_way("old_rows", -1),
    ),
    ("curation_annotation", "UPDATE", "curation_tally_annotation_upd", _ANNOTATION_UPD),
    ("curation_image", "INSERT", "curation_tally_image_ins", _image_one_way("new_rows", 1)),
    ("curation_image", "DELETE", "curation_tally_image_del", _image_one_way("old_rows", -1)),
    ("curation_image", "UPDATE", "curation_tally_image_upd", _IMAGE_UPD),
]
_TRANSITION = {
    "INSERT": "NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}

POSTGRES_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, _, name, _ in _TRIGGERS),
    *(f"DROP FUNCTION IF EXISTS {name}()" for _, _, name, _ in _TRIGGERS),
]
POSTGRES = [
    "DROP TRIGGER IF EXISTS curation_annotation_tally ON curation_annotation",
    "DROP TRIGGER IF EXISTS curation_image_tally ON curation_image",
    "DROP FUNCTION IF EXISTS curation_tally_annotation()",
    "DROP FUNCTION IF EXISTS curation_tally_image()",
    "DROP FUNCTION IF EXISTS curation_tally_label(bigint, bigint, bigint, int)",
    *POSTGRES_DROP,
    *(
        sql
        for table, event, name, body in _TRIGGERS
        for sql in (
            _function(name, body),
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {_TRANSITION[event]} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        )
    ),
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES:
            schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    """Back to 0006's per-row triggers (the counters stay right in between)."""
    if schema_editor.connection.vendor == "postgresql":
        previous = importlib.import_module("curation.migrations.0006_tallies")
        for sql in POSTGRES_DROP + previous.POSTGRES_DROP + previous.POSTGRES:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0007_similarity"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
