from django.urls import path

from curation.views import (
    boxes,
    data_health,
    datasets,
    history,
    images,
    imports,
    quality,
    reviews,
    runs,
    similarity,
    similarity_runs,
    triplets,
)

app_name = "curation"

urlpatterns = [
    path("", datasets.dataset_list, name="dataset_list"),
    path("datasets/<slug:name>/", datasets.dataset_detail, name="dataset_detail"),
    path(
        "datasets/<slug:name>/labels/<int:label_id>/move/", datasets.label_move, name="label_move"
    ),
    path("images/<int:image_id>/", images.image_detail, name="image_detail"),
    path("images/<int:image_id>/relabel/", images.image_relabel, name="image_relabel"),
    path("images/<int:image_id>/thumb/", images.image_thumbnail, name="image_thumbnail"),
    path("images/<int:image_id>/file/", images.image_file, name="image_file"),
    path("history/<int:event_id>/revert/", images.event_revert, name="event_revert"),
    path("datasets/<slug:name>/attributes/<slug:attribute>/retrain/", runs.retrain, name="retrain"),
    path("datasets/<slug:name>/health/", data_health.data_health, name="data_health"),
    path("datasets/<slug:name>/health/fix/", data_health.data_health_fix, name="data_health_fix"),
    path("datasets/<slug:name>/history/", history.dataset_history, name="dataset_history"),
    path("history/batch/<uuid:batch>/revert/", history.batch_revert, name="batch_revert"),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/quality/",
        quality.dashboard,
        name="quality",
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/gallery/", quality.gallery, name="gallery"
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/gallery/relabel/",
        quality.gallery_bulk,
        name="gallery_bulk",
    ),
    path("images/<int:image_id>/gallery-relabel/", quality.gallery_relabel, name="gallery_relabel"),
    path("history/<int:event_id>/undo/", quality.gallery_undo, name="gallery_undo"),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/compare/", quality.compare, name="compare"
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/review/",
        reviews.review_queue,
        name="review",
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/review/more/",
        reviews.review_queue_more,
        name="review_more",
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/review/export/",
        reviews.review_export,
        name="review_export",
    ),
    path(
        "datasets/<slug:name>/attributes/<slug:attribute>/review/import/",
        reviews.review_import,
        name="review_import",
    ),
    path("review/<int:item_id>/vote/", reviews.review_vote, name="review_vote"),
    path("datasets/<slug:name>/attributes/<slug:attribute>/guide/", reviews.guide, name="guide"),
    path("images/<int:image_id>/similar/", similarity.image_similar, name="image_similar"),
    path(
        "datasets/<slug:name>/similarity/", similarity.dataset_similarity, name="dataset_similarity"
    ),
    path("datasets/<slug:name>/similarity/build/", similarity.index_build, name="index_build"),
    path(
        "datasets/<slug:name>/similarity/train/",
        similarity_runs.similarity_train,
        name="similarity_train",
    ),
    path("datasets/<slug:name>/triplets/", triplets.triplets, name="triplets"),
    path("datasets/<slug:name>/boxes/", boxes.boxes_missing, name="boxes_missing"),
    path("images/<int:image_id>/box/", boxes.image_box, name="image_box"),
    path("runs/", runs.run_list, name="run_list"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/promote/", runs.run_promote, name="run_promote"),
    path("import/", imports.import_start, name="import_start"),
    path("import/<int:job_id>/", imports.import_job, name="import_job"),
]
