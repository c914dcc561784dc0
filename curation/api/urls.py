from django.urls import path

from curation.api import classify, reviews, runs, similar, views

urlpatterns = [
    path("datasets/", views.dataset_list, name="api-dataset-list"),
    path("datasets/<slug:name>/", views.dataset_detail, name="api-dataset-detail"),
    path("images/", views.image_list, name="api-image-list"),
    path("images/<int:image_id>/", views.image_detail, name="api-image-detail"),
    path("images/<int:image_id>/labels/", views.image_labels, name="api-image-labels"),
    path("images/<int:image_id>/tags/", views.image_tags, name="api-image-tags"),
    path("images/<int:image_id>/history/", views.image_history, name="api-image-history"),
    path("images/<int:image_id>/similar/", similar.image_similar, name="api-image-similar"),
    path("similar/", similar.upload_similar, name="api-similar"),
    path("classify/", classify.classify_images, name="api-classify"),
    path("runs/", runs.run_start, name="api-run-start"),
    path("runs/<int:run_id>/", runs.run_detail, name="api-run-detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="api-run-cancel"),
    path("runs/<int:run_id>/resume/", runs.run_resume, name="api-run-resume"),
    path("runs/<int:run_id>/promote/", runs.run_promote, name="api-run-promote"),
    path("runs/<int:run_id>/suspects/", runs.run_suspects, name="api-run-suspects"),
    path("runs/<int:run_id>/predictions/", runs.run_predictions, name="api-run-predictions"),
    path(
        "runs/<int:run_id>/suspects/<int:image_id>/vote/",
        reviews.run_image_vote,
        name="api-run-image-vote",
    ),
    path("runs/<int:run_id>/wrong-labels/", reviews.run_wrong_labels, name="api-run-wrong-labels"),
]
