"""Votes and decisions move from a run's review item to the image x attribute (ReviewCase),
so they carry over to later runs; gold items and batch assignment.

Each existing item becomes its own case, with its votes and decision: a run's item was its
own round of review, and two rounds may hold a vote by the same person.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_to_cases(apps, schema_editor):
    ReviewItem = apps.get_model("curation", "ReviewItem")
    ReviewCase = apps.get_model("curation", "ReviewCase")
    ReviewVote = apps.get_model("curation", "ReviewVote")
    LabelEvent = apps.get_model("curation", "LabelEvent")
    for item in ReviewItem.objects.order_by("id").iterator():
        event = None
        if item.status == "decided" and item.decided_at is not None:
            event = (
                LabelEvent.objects.filter(
                    image_id=item.image_id,
                    attribute_id=item.attribute_id,
                    created_at__lte=item.decided_at,
                )
                .order_by("-id")
                .first()
            )
        case = ReviewCase.objects.create(
            attribute_id=item.attribute_id,
            image_id=item.image_id,
            status=item.status,
            decided_label_id=item.decided_label_id,
            decided_at=item.decided_at,
            label_event=event,
        )
        ReviewItem.objects.filter(pk=item.pk).update(case=case)
        ReviewVote.objects.filter(item_id=item.pk).update(case=case)


def back_to_items(apps, schema_editor):
    ReviewItem = apps.get_model("curation", "ReviewItem")
    ReviewVote = apps.get_model("curation", "ReviewVote")
    for item in ReviewItem.objects.select_related("case").order_by("id").iterator():
        ReviewItem.objects.filter(pk=item.pk).update(
            decided_label_id=item.case.decided_label_id, decided_at=item.case.decided_at
        )
        # A case shared by several runs gives its votes to the first item (one copy each).
        first = ReviewItem.objects.filter(case_id=item.case_id).order_by("id").first()
        if first is not None and first.pk == item.pk:
            ReviewVote.objects.filter(case_id=item.case_id).update(item_id=item.pk)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0021_weak_run_strength"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewCase",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "open"),
                            ("decided", "decided"),
                            ("no_consensus", "no consensus"),
                        ],
                        default="open",
                        max_length=12,
                    ),
                ),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "attribute",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="curation.attribute",
                    ),
                ),
                (
                    "decided_label",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="curation.label",
                    ),
                ),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="review_cases",
                        to="curation.image",
                    ),
                ),
                (
                    "label_event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="curation.labelevent",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["attribute", "image", "id"], name="review_case_latest")
                ],
            },
        ),
        migrations.CreateModel(
            name="GoldItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "answer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="curation.label",
                    ),
                ),
                (
                    "attribute",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="curation.attribute",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="curation.image",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("attribute", "image"), name="gold_item_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="GoldAnswer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("correct", models.BooleanField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "gold",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="answers",
                        to="curation.golditem",
                    ),
                ),
                (
                    "label",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="curation.label",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("gold", "reviewer"), name="gold_answer_once")
                ],
            },
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="case",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="curation.reviewcase",
            ),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="assigned_to",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="reviewvote",
            name="case",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="votes",
                to="curation.reviewcase",
            ),
        ),
        migrations.AlterField(
            model_name="reviewvote",
            name="item",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="votes",
                to="curation.reviewitem",
            ),
        ),
        migrations.RunPython(move_to_cases, back_to_items),
        migrations.RemoveConstraint(model_name="reviewvote", name="review_vote_once_per_user"),
        migrations.RemoveConstraint(model_name="reviewvote", name="review_vote_once_per_worker"),
        migrations.RemoveField(model_name="reviewvote", name="item"),
        migrations.AlterField(
            model_name="reviewvote",
            name="case",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="votes",
                to="curation.reviewcase",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewvote",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reviewer__isnull", False)),
                fields=("case", "reviewer"),
                name="review_vote_once_per_user",
            ),
        ),
        migrations.AddConstraint(
            model_name="reviewvote",
            constraint=models.UniqueConstraint(
                condition=models.Q(("worker", ""), _negated=True),
                fields=("case", "worker"),
                name="review_vote_once_per_worker",
            ),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="case",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="curation.reviewcase",
            ),
        ),
        migrations.RemoveField(model_name="reviewitem", name="decided_label"),
        migrations.RemoveField(model_name="reviewitem", name="decided_at"),
    ]
