from django.urls import path

from curation.views import datasets, images, imports, runs

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
    path("runs/", runs.run_list, name="run_list"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/promote/", runs.run_promote, name="run_promote"),
    path("import/", imports.import_start, name="import_start"),
    path("import/<int:job_id>/", imports.import_job, name="import_job"),
]
