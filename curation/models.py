"""The catalog: datasets, attributes with ordered labels, products, images, current labels and
their append-only history.

Two promises are enforced in the database, not only here: a product's (and so its images')
train/test split never changes except through an audited SplitMove, and label history is
never edited (see migrations/0002_integrity_triggers.py).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse


class Split(models.TextChoices):
    TRAIN = "train", "train"
    TEST = "test", "test"


class ImageStatus(models.TextChoices):
    OK = "ok", "ok"
    QUARANTINED = "quarantined", "quarantined"


class LabelSource(models.TextChoices):
    IMPORT = "import", "import"
    SYNC = "sync", "sync"
    MANUAL = "manual", "manual"
    REVIEW = "review", "review"
    REVERT = "revert", "revert"
    MODEL = "model", "model"  # a person accepted the promoted model's suggestion
    AUTO = "auto", "model (automatic)"  # written by auto-accept above a calibrated threshold


# Sources that mean "a person decided this label": an import must not silently undo them.
HUMAN_SOURCES = frozenset({LabelSource.MANUAL, LabelSource.REVIEW, LabelSource.REVERT})


def new_salt() -> str:
    return secrets.token_hex(8)


def team_choices() -> models.Q:
    """Teams are the groups that are not roles (curation.roles.ROLES): a dataset is limited to
    people, not to a level of permission."""
    from curation.roles import ROLES

    return ~models.Q(name__in=list(ROLES))


class Dataset(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    # Share of products that land in the test split when the manifest does not say.
    test_fraction = models.FloatField(default=0.2)
    # Mixed with the product key to assign splits deterministically; never changes.
    split_salt = models.CharField(max_length=32, default=new_salt, editable=False)
    is_synthetic = models.BooleanField(default=False)
    # The review rule: a suspect's label is decided when `review_agree` votes name the same
    # label (out of at most `review_max_votes`), or at once by one vote of an expert
    # (decide_review permission) when `review_expert_decides`.
    review_agree = models.PositiveSmallIntegerField(default=2)
    review_max_votes = models.PositiveSmallIntegerField(default=3)
    review_expert_decides = models.BooleanField(default=True)
    # Who may see the dataset at all (curation.access.visible_datasets): none, everyone with a
    # role; otherwise only members of these groups (and superusers). Roles still decide what
    # a person may do inside it.
    teams = models.ManyToManyField(
        "auth.Group", blank=True, related_name="datasets", limit_choices_to=team_choices
    )
    # Scheduled re-sync (opt-in): Celery beat re-imports `sync_source` (a server folder or
    # s3:// prefix) every `sync_every_minutes` (null: off) as an ImportJob.
    sync_source = models.CharField(max_length=1024, blank=True)
    sync_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set when someone deleted the dataset: hidden at once, rows and files removed by a task.
    deleting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("relabel_image", "Can change image labels"),
            ("review_label", "Can vote in label reviews"),
            ("decide_review", "Can decide a label review alone (expert)"),
            ("start_training", "Can start training runs"),
            ("manage_dataset", "Can create datasets and import catalogs"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("curation:dataset_detail", args=[self.name])

    @property
    def items_word(self) -> str:
        """What the pages call its images' subjects: "dresses" in a dress catalog, otherwise
        "items" (Fashion-MNIST's T-shirts are not dresses)."""
        return "dresses" if "dress" in f"{self.name} {self.title}".lower() else "items"


class Attribute(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="attributes")
    name = models.SlugField(max_length=80)
    position = models.PositiveIntegerField(default=0)
    # Auto-accept: the precision a data scientist asks of automatic tags (e.g. 0.98); None
    # means new arrivals are never tagged without a person.
    auto_accept_target = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["dataset_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="attribute_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=120)
    # Display order: galleries, tables and the confusion matrix follow it.
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attribute_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["attribute", "name"], name="label_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="products")
    key = models.CharField(max_length=255)  # e.g. a SKU; all photos of one dress share it
    split = models.CharField(max_length=5, choices=Split.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "key"], name="product_unique_key"),
        ]

    def __str__(self) -> str:
        return self.key


class Image(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    # Copied from the product when the row is created; the database keeps them equal.
    split = models.CharField(max_length=5, choices=Split.choices)
    source_path = models.CharField(max_length=1024)  # the manifest's `path`, the row's identity
    sha256 = models.CharField(max_length=64)
    file = models.CharField(max_length=300, blank=True)  # storage key of the original
    thumbnail = models.CharField(max_length=300, blank=True)  # storage key of the thumbnail
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    format = models.CharField(max_length=16, blank=True)
    phash = models.CharField(max_length=16, blank=True)  # 64-bit difference hash, hex
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=12, choices=ImageStatus.choices, default=ImageStatus.OK)
    quarantine_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "sha256"], name="image_unique_content"),
            models.UniqueConstraint(fields=["dataset", "source_path"], name="image_unique_path"),
        ]
        indexes = [
            models.Index(fields=["dataset", "status", "split", "id"], name="image_browse"),
            models.Index(fields=["product"], name="image_product"),
        ]

    def __str__(self) -> str:
        return self.source_path

    def get_absolute_url(self) -> str:
        return reverse("curation:image_detail", args=[self.pk])


class Annotation(models.Model):
    """The current label of one image for one attribute (possibly empty)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Bumped on every change; clients send it back (If-Match) so stale edits are refused.
    version = models.PositiveIntegerField(default=1)
    # The value the catalog source had at the last import/sync, to tell a source change from
    # a person's change on the next import.
    synced_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_source = models.CharField(max_length=10, choices=LabelSource.choices)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "attribute"], name="annotation_unique"),
        ]
        indexes = [models.Index(fields=["attribute", "label"], name="annotation_by_label")]

    def __str__(self) -> str:
        return f"image {self.image_id} attribute {self.attribute_id}: label {self.label_id}"


class LabelEvent(models.Model):
    """Append-only label history. Rows are never updated (a database trigger refuses it)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_events")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    old_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    new_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=LabelSource.choices)
    note = models.CharField(max_length=500, blank=True)
    # Events written together (one import, one bulk relabel) share a batch, so they can be
    # reverted together.
    batch = models.UUIDField(null=True, blank=True, db_index=True)
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reverted_by"
    )
    # The model run whose prediction flagged this image (filled once training runs exist).
    flagged_by_run_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["image", "attribute", "id"], name="event_by_image")]

    def __str__(self) -> str:
        return f"{self.source}: image {self.image_id} {self.old_label_id} -> {self.new_label_id}"


class SplitMove(models.Model):
    """Audit record of the one legal split change (a taxonomy change, by an explicit command).

    The split triggers let a product's split change only while a pending SplitMove for that
    product and target split exists.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="split_moves")
    old_split = models.CharField(max_length=5, choices=Split.choices)
    new_split = models.CharField(max_length=5, choices=Split.choices)
    reason = models.CharField(max_length=500)
    actor = models.CharField(max_length=150)  # who ran the command
    pending = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.old_split} -> {self.new_split}"


class Quarantine(models.Model):
    """Audit record of an image taken out of use by a person (a duplicate, a bad photo): who,
    why and when. Files the importer could not read are quarantined without one."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="quarantines")
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"image {self.image_id} quarantined: {self.reason}"


class JobStatus(models.TextChoices):
    """The life of a job that can be cancelled: ImportJob, TrainingRun and ScoringJob (each
    names it Status)."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


class BuildStatus(models.TextChoices):
    """The life of an artifact a worker builds: SimilarityIndex and EmbeddingMap (each names it
    Status)."""

    QUEUED = "queued", "queued"
    BUILDING = "building", "building"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class Job(models.Model):
    """The bookkeeping of a row a worker carries out: who asked for it, when, when it ended and
    why it failed. Each job declares its own `status` (their choices differ)."""

    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class CountedJob(Job):
    """A job that counts its items as it goes (`done` of `total`)."""

    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


class WorkerJob(CountedJob):
    """A counted job whose worker reports in: a RUNNING row with a stale `heartbeat_at` lost
    its worker. (TrainingRun reports in too, but counts epochs in its progress, not items.)"""

    status: str  # declared by each job, with its own choices; all of them say "succeeded"
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int:
        # A finished job is whole, even where `done` stopped short of the `total` counted
        # when it started.
        return 100 if self.status == JobStatus.SUCCEEDED else super().percent


class ImportJob(CountedJob):
    """One run of import_catalog started from the web page, with its progress and report."""

    Status = JobStatus

    ENDED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    dataset_name = models.SlugField(max_length=80)
    source = models.CharField(max_length=1024)
    # For an upload: the file's own name (what people who may not see server paths see)
    # and the folder it was unpacked into, removed when the import ends.
    upload_name = models.CharField(max_length=255, blank=True)
    upload_dir = models.CharField(max_length=1024, blank=True)
    create_dataset = models.BooleanField(default=False)
    # labels new to existing attributes the user asked to create ('boat', 'neckline:boat')
    create_labels = models.JSONField(default=list, blank=True)
    overwrite_manual = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    report = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.source} into {self.dataset_name} ({self.status})"


class TrainingRun(Job):
    """One training job for a dataset × attribute, with its progress, metrics and artifact.

    The run trains on a frozen snapshot of the labels (its RunImage rows), so its numbers
    stay reproducible after later relabels.
    """

    # Columns that grow with the run (a 2,000-point loss curve, metrics, progress) and that
    # the QA pages never show: their hot queries defer them (an access still loads them).
    HEAVY_FIELDS = ("metrics", "loss_curve", "progress")

    Status = JobStatus

    class Kind(models.TextChoices):
        CLASSIFIER = "classifier", "classifier"
        SIMILARITY = "similarity", "similarity"

    FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="runs")
    attribute = models.ForeignKey(
        Attribute, null=True, on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CLASSIFIER)
    config = models.JSONField()  # mlcore TrainConfig as a dict
    label_names = models.JSONField()  # label order at the start; probabilities follow it
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    cancel_requested = models.BooleanField(default=False)
    # phase, epoch, epochs, step, steps, loss, images_per_s, eta_s (see services/runs/worker.py)
    progress = models.JSONField(default=dict)
    loss_curve = models.JSONField(default=list)  # [[fractional epoch, loss], ...]
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a live worker updates it
    attempts = models.PositiveIntegerField(default=0)  # deliveries that started work
    train_count = models.PositiveIntegerField(default=0)
    test_count = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(null=True, blank=True)  # test-split metrics (mlcore Metrics)
    # mlcore Strength of the test metrics, kept apart from them so the pages that mark a weak
    # model never read the metrics column (queries/strength.py); None: not judged
    strength = models.JSONField(null=True, blank=True)
    # Precomputed for the QA pages, so no page counts the catalog: per split, the label ids in
    # run order, the confusion matrix of the frozen labels vs predictions, and the mistakes.
    aggregates = models.JSONField(null=True, blank=True)
    artifact_uri = models.CharField(max_length=500, blank=True)
    # the phase a failed run stopped in (training, cross-fitting, ranking, saving, ...)
    failed_phase = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The client's key for this start (the form's per-render key, the API's Idempotency-Key
    # header): a repeat with the same key gets this run back instead of a second run.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["dataset", "attribute", "-id"], name="run_registry")]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("curation:run_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        """Share of the whole job done. A classifier run's cross-fitting counts in epochs of
        the training set: k-fold is k models of cv_epochs on (k-1)/k of it; the linear probe
        about one epoch (a forward pass, then k regressions)."""
        p = self.progress or {}
        if self.status == self.Status.SUCCEEDED:
            return 100
        if "percent" in p:  # the worker's plan of the whole job (mlcore/jobplan.py)
            return min(99, int(p["percent"]))
        epochs, steps = p.get("epochs") or 0, p.get("steps") or 0
        if not epochs or not steps:
            return 0
        done = min(epochs, (p.get("epoch", 1) - 1) + p.get("step", 0) / steps)
        config = self.config or {}
        folds = int(config.get("cv_folds") or 0)
        if self.kind != self.Kind.CLASSIFIER or folds < 2:
            return min(99, int(100 * done / epochs))
        fold, fold_steps = int(p.get("fold") or 0), p.get("fold_steps") or 0
        phase = p.get("phase")
        if config.get("cv_method") == "linear_probe":
            cv_total, cv_done = 1.0, 0.0
            if phase == "cross-fitting" and fold_steps:  # fold 0: features; f: f fits done
                cv_done = (
                    0.3 * p.get("fold_step", 0) / fold_steps
                    if fold == 0
                    else 0.3 + 0.7 * fold / folds
                )
        else:
            per_fold = (config.get("cv_epochs") or epochs) * (folds - 1) / folds
            cv_total, cv_done = folds * per_fold, 0.0
            if phase == "cross-fitting" and fold and fold_steps:
                within = (p.get("fold_epoch", 1) - 1 + p.get("fold_step", 0) / fold_steps) / (
                    p.get("fold_epochs") or 1
                )
                cv_done = per_fold * (fold - 1 + min(1.0, within))
        if phase in ("ranking", "saving", "done"):
            cv_done = cv_total
        return min(99, int(100 * (done + cv_done) / (epochs + cv_total)))


class RunImage(models.Model):
    """An image in a run: the label it was trained/evaluated with, and the run's prediction.

    Test images get the model's predictions; training images get out-of-sample
    probabilities from cross-fitting (out_of_sample=True).
    """

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="images")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="run_rows")
    split = models.CharField(max_length=5, choices=Split.choices)
    given_label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    predicted_label = models.ForeignKey(
        Label, null=True, on_delete=models.PROTECT, related_name="+"
    )
    confidence = models.FloatField(null=True)  # probability of the predicted label
    given_probability = models.FloatField(null=True)  # probability of the given label
    probs = models.JSONField(null=True)  # every label's probability, in run.label_names order
    out_of_sample = models.BooleanField(default=False)
    quality = models.FloatField(null=True)  # cleanlab label quality, low = suspect
    suspect_rank = models.PositiveIntegerField(null=True)  # 1 = most likely mislabelled
    # Place in the review order over every scored image of the run, train and test alike
    # (lowest label quality first); suspect_rank is set on cleanlab's flagged subset of it.
    review_rank = models.PositiveIntegerField(null=True)
    # given != predicted, stored so the false-positive/negative galleries read an index
    # instead of walking every correct prediction of a class.
    is_error = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "image"], name="run_image_unique")]
        # Gallery pages: keyset on (confidence, id) after equality on the leading columns.
        indexes = [
            models.Index(fields=["run", "suspect_rank"], name="run_suspects"),
            models.Index(fields=["run", "review_rank"], name="run_review_order"),
            models.Index(
                fields=["run", "split", "given_label", "predicted_label", "confidence", "id"],
                name="run_cell_gallery",
            ),
            models.Index(
                fields=["run", "split", "predicted_label", "is_error", "confidence", "id"],
                name="run_fp_gallery",
            ),
            models.Index(
                fields=["run", "split", "given_label", "is_error", "confidence", "id"],
                name="run_fn_gallery",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} image {self.image_id}"


class PromotedModel(models.Model):
    """The run whose model is the attribute's current model (QA pages and inference use it)."""

    attribute = models.OneToOneField(Attribute, on_delete=models.CASCADE, related_name="promoted")
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="+")
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.attribute_id}: run {self.run_id}"


class ReviewCase(models.Model):
    """One image x attribute under review: its votes and its decision.

    Every run whose queue flags the image shares the case, so votes and a decision carry over
    from run to run. A later run that flags an image whose label changed since the decision
    opens a new case (the old one stays, with its votes, as history).
    """

    class Status(models.TextChoices):
        OPEN = "open", "open"
        DECIDED = "decided", "decided"
        NO_CONSENSUS = "no_consensus", "no consensus"  # votes ran out; an expert decides

    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_cases")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    decided_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The image's latest label event once decided: a later event means the label changed since.
    label_event = models.ForeignKey(
        LabelEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["attribute", "image", "id"], name="review_case_latest")]

    def __str__(self) -> str:
        return f"review of image {self.image_id} for attribute {self.attribute_id} ({self.status})"


class ReviewItem(models.Model):
    """A likely-mislabelled image in one run's queue, at the run's rank. Its votes and decision
    live on its case, shared with every other run that flagged the image."""

    Status = ReviewCase.Status

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="review_items")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_items")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="items")
    given_label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    suggested_label = models.ForeignKey(
        Label, null=True, on_delete=models.PROTECT, related_name="+"
    )
    score = models.FloatField(null=True)  # cleanlab label quality, low = suspect
    rank = models.PositiveIntegerField()
    # The case's status, kept on the item so a run's queue pages on one index.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    # A batch a data scientist gave to one reviewer: they see it first, others not at all.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "image"], name="review_item_unique"),
        ]
        indexes = [models.Index(fields=["run", "status", "rank"], name="review_queue")]

    def __str__(self) -> str:
        return f"review of image {self.image_id} in run {self.run_id} ({self.status})"


class ReviewVote(models.Model):
    """One reviewer's answer: a signed-in user, or an outside crowd worker (by their id)."""

    case = models.ForeignKey(ReviewCase, on_delete=models.CASCADE, related_name="votes")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    worker = models.CharField(max_length=120, blank=True)  # crowd worker id from an import
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    expert = models.BooleanField(default=False)  # the voter could decide alone
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "reviewer"],
                condition=models.Q(reviewer__isnull=False),
                name="review_vote_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["case", "worker"],
                condition=~models.Q(worker=""),
                name="review_vote_once_per_worker",
            ),
        ]

    def __str__(self) -> str:
        return f"vote {self.label_id} on case {self.case_id}"


class GoldItem(models.Model):
    """An image whose answer a data scientist knows, mixed into reviewers' queues (never shown
    as such) to score each reviewer."""

    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attribute", "image"], name="gold_item_unique"),
        ]

    def __str__(self) -> str:
        return f"gold {self.answer_id} for image {self.image_id}"


class GoldAnswer(models.Model):
    """A reviewer's answer to a gold item; `correct` is fixed when it is given."""

    gold = models.ForeignKey(GoldItem, on_delete=models.CASCADE, related_name="answers")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    correct = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gold", "reviewer"], name="gold_answer_once"),
        ]

    def __str__(self) -> str:
        return f"gold answer {self.label_id} on {self.gold_id}"


class LabelTally(models.Model):
    """How many usable (status ok) images carry each label, per attribute and split.

    Kept by database triggers on Annotation and Image (migration 0006), so the dataset page
    reads a few rows instead of counting the catalog. label_key: the label id, 0 = no label.
    """

    # No database constraint, and the rows go with a trigger when the attribute is deleted:
    # deleting annotations (before their attribute) updates tallies as it goes.
    attribute = models.ForeignKey(
        Attribute, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    label_key = models.BigIntegerField()
    split = models.CharField(max_length=5, choices=Split.choices)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["attribute", "label_key", "split"], name="label_tally_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attribute_id}/{self.label_key}/{self.split}: {self.n}"


class SplitTally(models.Model):
    """Usable images per dataset and split, kept by triggers on Image (migration 0006)."""

    dataset = models.ForeignKey(
        Dataset, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    split = models.CharField(max_length=5, choices=Split.choices)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "split"], name="split_tally_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id}/{self.split}: {self.n}"


class ImageBox(models.Model):
    """Where the dress is in an image: a ground-truth box, as fractions of width and height
    (from the synthetic generator or drawn in the box editor). Localization trains on these."""

    class Source(models.TextChoices):
        SYNTHETIC = "synthetic", "synthetic"  # exact, from the generator
        MANUAL = "manual", "manual"  # drawn or fixed by a person

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="box")
    x0 = models.FloatField()
    y0 = models.FloatField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    source = models.CharField(max_length=10, choices=Source.choices)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(x0__gte=0, y0__gte=0, x1__lte=1, y1__lte=1)
                & models.Q(x0__lt=models.F("x1"), y0__lt=models.F("y1")),
                name="image_box_inside",
            ),
        ]

    def __str__(self) -> str:
        return f"box of image {self.image_id}"

    def pixels(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (self.x0 * width, self.y0 * height, self.x1 * width, self.y1 * height)


class Triplet(models.Model):
    """A person's judgement: `closer` looks more like `reference` than `farther` does."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="triplets")
    reference = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    closer = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    farther = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["dataset", "id"], name="triplet_by_dataset")]

    def __str__(self) -> str:
        return f"{self.reference_id}: {self.closer_id} over {self.farther_id}"


class SimilarityIndex(CountedJob):
    """A FAISS index of a dataset's images, built by a task on the cpu queue and kept in
    storage; the web process loads the newest ready one."""

    Status = BuildStatus

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="indexes")
    # The similarity run whose triplet net embeds; none: the pretrained backbone.
    run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    embedder = models.CharField(max_length=12)  # pretrained | triplet
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    count = models.PositiveIntegerField(default=0)  # vectors in the index
    dim = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=8, blank=True)  # exact | hnsw
    artifact = models.CharField(max_length=300, blank=True)  # storage key
    skipped = models.JSONField(default=list)  # [{image, reason}] that could not be embedded

    class Meta:
        indexes = [models.Index(fields=["dataset", "status", "-id"], name="index_current")]

    def __str__(self) -> str:
        return f"index {self.pk} of {self.dataset_id} ({self.status})"


class QualityScan(WorkerJob):
    """One CleanVision scan of a dataset's usable images, on the cpu queue: progress while it
    runs, counts per issue type when it is done. Findings are written all at once when the
    scan succeeds, replacing the previous scan's."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="quality_scans")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    counts = models.JSONField(default=dict)  # issue type -> images flagged with it
    # Share of the readable images that are grey; grayscale is an issue only in a colour
    # catalog (a share under one half), see services/image_quality.py.
    grayscale_share = models.FloatField(null=True, blank=True)
    skipped = models.JSONField(default=list)  # [{image, reason}] unreadable, the first 200
    skipped_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["dataset", "status", "-id"], name="quality_scan_current")]

    def __str__(self) -> str:
        return f"quality scan {self.pk} of {self.dataset_id} ({self.status})"

    @property
    def colour_catalog(self) -> bool | None:
        return None if self.grayscale_share is None else self.grayscale_share < 0.5


class QualityFinding(models.Model):
    """An image a scan flagged with one issue type, with CleanVision's score for it."""

    class Issue(models.TextChoices):
        DARK = "dark", "dark"
        LIGHT = "light", "light"
        ODD_ASPECT_RATIO = "odd_aspect_ratio", "odd aspect ratio"
        LOW_INFORMATION = "low_information", "low information"
        BLURRY = "blurry", "blurry"
        GRAYSCALE = "grayscale", "grayscale"
        ODD_SIZE = "odd_size", "odd size"

    scan = models.ForeignKey(QualityScan, on_delete=models.CASCADE, related_name="findings")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="quality_findings")
    issue = models.CharField(max_length=20, choices=Issue.choices)
    score = models.FloatField()  # CleanVision's quality score in [0, 1], low = severe

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "image", "issue"], name="quality_finding_unique"
            ),
        ]
        # A gallery page: worst first, by offset within one scan and issue type.
        indexes = [models.Index(fields=["scan", "issue", "score", "id"], name="quality_gallery")]

    def __str__(self) -> str:
        return f"{self.issue} {self.score:.2f}: image {self.image_id}"


class ImageScore(models.Model):
    """A promoted model's scores for an image that was not in the model's own run (a new
    arrival, an unlabelled image). Images of the run read their scores from RunImage
    (out-of-sample for training images); queries/scores.py joins the two."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scores")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="scores")
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    # Every label's calibrated probability, in run.label_names order.
    probs = models.JSONField()
    predicted_label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")
    confidence = models.FloatField()  # calibrated probability of the predicted label
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "image"], name="image_score_unique"),
        ]
        # The new-arrivals queue: one run's scores, most confident first.
        indexes = [
            models.Index(fields=["run", "-confidence", "id"], name="image_score_queue"),
            models.Index(fields=["image", "attribute"], name="image_score_by_image"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} image {self.image_id}: {self.predicted_label_id}"


class ScoringJob(WorkerJob):
    """One pass of a promoted model over the usable images of its attribute that it has not
    scored yet (imports, promotion, a button and `manage.py score` start it). Idempotent:
    images already scored are skipped, so a job re-delivered after a worker died goes on
    where it stopped."""

    Status = JobStatus

    ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})

    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="scorings")
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scorings")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    reason = models.CharField(max_length=40, blank=True)  # import, promote, button, command
    skipped = models.PositiveIntegerField(default=0)  # unreadable images

    class Meta:
        indexes = [models.Index(fields=["attribute", "status", "-id"], name="scoring_current")]

    def __str__(self) -> str:
        return f"scoring {self.pk} of attribute {self.attribute_id} ({self.status})"


class LoginFailure(models.Model):
    """One failed log-in (or one in progress), kept for the lockout window so that every web
    process and machine counts the same failures (curation/login_limit.py)."""

    username = models.CharField(max_length=150)  # as typed, stripped and lower-cased
    address = models.CharField(max_length=64)  # address_key(): an IPv6 client by its /64
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_username"),
            models.Index(fields=["address", "at"], name="loginfailure_address"),
            models.Index(fields=["at"], name="loginfailure_at"),
        ]

    def __str__(self) -> str:
        return f"failed log-in for {self.username!r} from {self.address} at {self.at}"


class ExportJob(CountedJob):
    """A dataset's current labels written out as a zip of ImageNet-style folders
    (split/label/file) with a labels.csv the import reads back, built by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    ENDED = (Status.SUCCEEDED, Status.FAILED)

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="exports")
    # The attribute whose labels name the folders (every attribute is in labels.csv).
    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    file = models.CharField(max_length=300, blank=True)  # storage key of the finished zip
    size_bytes = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"export {self.pk} of {self.dataset_id} ({self.status})"

    @property
    def download_name(self) -> str:
        return f"{self.dataset.name}-{self.attribute.name}-export-{self.pk}.zip"


class Tag(models.Model):
    """A free tag of a dataset's images ('ambiguous', 'reshoot', or a team's own)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)  # services.tags.clean_tag_name: lower case
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class ImageTag(models.Model):
    """One tag on one image: who put it there and when."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="image_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="image_tags")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # (tag, image) serves the gallery's tag filter; image_tag_by_image a page's tiles.
        constraints = [
            models.UniqueConstraint(fields=["tag", "image"], name="image_tag_unique"),
        ]
        indexes = [models.Index(fields=["image"], name="image_tag_by_image")]

    def __str__(self) -> str:
        return f"image {self.image_id}: tag {self.tag_id}"


class SavedView(models.Model):
    """A named gallery filter of a dataset, kept as its canonical query string so its URL
    opens the same images for anyone who may see the dataset."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    query = models.CharField(max_length=2000)  # queries.explore.ExploreFilter.to_query()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "owner", "name"], name="saved_view_unique_name"
            ),
        ]
        indexes = [models.Index(fields=["dataset", "name"], name="saved_view_by_dataset")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("curation:saved_view", args=[self.dataset.name, self.pk])


class EmbeddingMap(Job):
    """A 2-D layout (UMAP, or PCA as the fast fallback) of a dataset's embeddings: the
    similarity index's vectors, or a classifier run's probabilities. Computed on the cpu
    queue; the layout is a storage artifact (ids int64, xy float16) read by the map page."""

    Status = BuildStatus

    class Source(models.TextChoices):
        SIMILARITY = "similarity", "similarity embeddings"
        CLASSIFIER = "classifier", "classifier probabilities"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="maps")
    source = models.CharField(max_length=12, choices=Source.choices)
    index = models.ForeignKey(
        SimilarityIndex, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(max_length=8, blank=True)  # umap | pca, once computed
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    count = models.PositiveIntegerField(default=0)  # points in the layout
    artifact = models.CharField(max_length=300, blank=True)  # storage key of the .npz

    class Meta:
        indexes = [models.Index(fields=["dataset", "status", "-id"], name="map_current")]

    def __str__(self) -> str:
        return f"map {self.pk} of {self.dataset_id} ({self.status})"


class MapSelection(models.Model):
    """The images inside a lasso drawn on a map, kept so the gallery's URL names an id
    rather than carrying every image id."""

    map = models.ForeignKey(EmbeddingMap, on_delete=models.CASCADE, related_name="selections")
    image_ids = models.JSONField(default=list)  # ascending
    polygon = models.JSONField(default=list)  # [[x, y], ...] in the layout's unit square
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"selection {self.pk} of map {self.map_id} ({len(self.image_ids)} images)"
