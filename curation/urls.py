from django.urls import include, path

from curation.views import (
    arrivals,
    auto_accept,
    boxes,
    classify,
    data_health,
    datasets,
    embedding_map,
    history,
    image_quality,
    images,
    imports,
    quality,
    reviews,
    run_diff,
    runs,
    scoring,
    similarity,
    similarity_runs,
    triplets,
)

app_name = "curation"

# datasets/<name>/attributes/<attribute>/...: one attribute's runs, QA pages and reviews
attribute_urls = [
    path("retrain/", runs.retrain, name="retrain"),
    path("quality/", quality.dashboard, name="quality"),
    path("gallery/", quality.gallery, name="gallery"),
    path("gallery/relabel/", quality.gallery_bulk, name="gallery_bulk"),
    path("compare/", quality.compare, name="compare"),
    path("compare/diff/", run_diff.run_diff_page, name="run_diff"),
    path("review/", reviews.review_queue, name="review"),
    path("review/more/", reviews.review_queue_more, name="review_more"),
    path("review/agreement/", reviews.review_agreement, name="review_agreement"),
    path("review/export/", reviews.review_export, name="review_export"),
    path("review/import/", reviews.review_import, name="review_import"),
    path("guide/", reviews.guide, name="guide"),
    path("arrivals/", arrivals.arrivals_queue, name="arrivals"),
    path("arrivals/decide/", arrivals.arrivals_decide, name="arrivals_decide"),
    path("arrivals/undo/", arrivals.arrivals_undo, name="arrivals_undo"),
    path("auto-accept/", auto_accept.auto_accept, name="auto_accept"),
    path("auto-accept/apply/", auto_accept.auto_accept_apply, name="auto_accept_apply"),
    path("scoring/", scoring.scoring_panel_view, name="scoring_panel"),
    path("scoring/start/", scoring.scoring_start, name="scoring_start"),
    path("scoring/cancel/", scoring.scoring_cancel, name="scoring_cancel"),
]

# datasets/<name>/...
dataset_urls = [
    path("", datasets.dataset_detail, name="dataset_detail"),
    path("labels/<int:label_id>/move/", datasets.label_move, name="label_move"),
    path("sync/", datasets.dataset_sync, name="dataset_sync"),
    path("history/", history.dataset_history, name="dataset_history"),
    path("health/", data_health.data_health, name="data_health"),
    path("health/fix/", data_health.data_health_fix, name="data_health_fix"),
    path("image-quality/", image_quality.image_quality_panel, name="image_quality_panel"),
    path("image-quality/scan/", image_quality.image_quality_scan, name="image_quality_scan"),
    path("attributes/<slug:attribute>/", include(attribute_urls)),
    path("similarity/", similarity.dataset_similarity, name="dataset_similarity"),
    path("similarity/build/", similarity.index_build, name="index_build"),
    path("similarity/train/", similarity_runs.similarity_train, name="similarity_train"),
    path("triplets/", triplets.triplets, name="triplets"),
    path("boxes/", boxes.boxes_missing, name="boxes_missing"),
    path("classify/", classify.classify_photo, name="classify_photo"),
    path("map/", embedding_map.map_page, name="embedding_map"),
    path("map/build/", embedding_map.map_build, name="map_build"),
    path("map/<int:map_id>/points/", embedding_map.map_points, name="map_points"),
    path("map/<int:map_id>/lasso/", embedding_map.map_lasso, name="map_lasso"),
    path(
        "map/selections/<int:selection_id>/",
        embedding_map.map_selection,
        name="map_selection",
    ),
]

# images/<image_id>/...
image_urls = [
    path("", images.image_detail, name="image_detail"),
    path("relabel/", images.image_relabel, name="image_relabel"),
    path("thumb/", images.image_thumbnail, name="image_thumbnail"),
    path("file/", images.image_file, name="image_file"),
    path("gallery-relabel/", quality.gallery_relabel, name="gallery_relabel"),
    path("similar/", similarity.image_similar, name="image_similar"),
    path("box/", boxes.image_box, name="image_box"),
]

urlpatterns = [
    path("", datasets.dataset_list, name="dataset_list"),
    path("datasets/<slug:name>/", include(dataset_urls)),
    path("images/<int:image_id>/", include(image_urls)),
    path("history/<int:event_id>/revert/", images.event_revert, name="event_revert"),
    path("history/batch/<uuid:batch>/revert/", history.batch_revert, name="batch_revert"),
    path("history/<int:event_id>/undo/", quality.gallery_undo, name="gallery_undo"),
    path("review/<int:item_id>/vote/", reviews.review_vote, name="review_vote"),
    path("runs/", runs.run_list, name="run_list"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/promote/", runs.run_promote, name="run_promote"),
    path("import/", imports.import_start, name="import_start"),
    path("import/<int:job_id>/", imports.import_job, name="import_job"),
    path("import/<int:job_id>/cancel/", imports.import_cancel, name="import_cancel"),
]
