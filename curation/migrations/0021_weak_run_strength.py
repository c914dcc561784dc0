from django.db import migrations, models


def judge_finished_runs(apps, schema_editor):
    """Runs that finished before the column: their strength from their test metrics, by the
    same rule as a new run (queries/strength.py)."""
    from curation.queries.strength import strength_of_metrics

    TrainingRun = apps.get_model("curation", "TrainingRun")
    runs = TrainingRun.objects.filter(status="succeeded", kind="classifier", strength__isnull=True)
    for run in runs.exclude(metrics=None).only("id", "metrics").iterator():
        strength = strength_of_metrics(run.metrics)
        if strength is not None:
            TrainingRun.objects.filter(pk=run.pk).update(strength=strength.to_dict())


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0020_eta_idempotency_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="strength",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(judge_finished_runs, migrations.RunPython.noop),
        migrations.AddField(
            model_name="importjob",
            name="create_labels",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
