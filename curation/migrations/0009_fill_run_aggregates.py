"""Store the confusion aggregates of finished classifier runs that have none (runs from
before aggregates were stored when a run finishes), so the QA pages only read them."""

from django.db import migrations
from django.db.models import Count


def fill(apps, schema_editor):
    TrainingRun = apps.get_model("curation", "TrainingRun")
    Label = apps.get_model("curation", "Label")
    RunImage = apps.get_model("curation", "RunImage")
    runs = TrainingRun.objects.filter(status="succeeded", kind="classifier", aggregates=None)
    for run in runs.exclude(attribute=None).iterator():
        by_name = dict(
            Label.objects.filter(attribute_id=run.attribute_id).values_list("name", "id")
        )
        if any(name not in by_name for name in run.label_names):
            continue  # a label was deleted since: the page counts this run on the fly
        label_ids = [by_name[name] for name in run.label_names]
        index = {label_id: i for i, label_id in enumerate(label_ids)}
        k = len(label_ids)
        splits: dict = {}
        rows = (
            RunImage.objects.filter(run=run)
            .values_list("split", "given_label_id", "predicted_label_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        for split, given, predicted, n in rows:
            entry = splits.setdefault(
                split, {"confusion": [[0] * k for _ in range(k)], "unscored": 0}
            )
            if predicted is None or given not in index or predicted not in index:
                entry["unscored"] += n
            else:
                entry["confusion"][index[given]][index[predicted]] += n
        run.aggregates = {"label_ids": label_ids, "splits": splits}
        run.save(update_fields=["aggregates"])


class Migration(migrations.Migration):
    dependencies = [("curation", "0008_statement_tallies")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
