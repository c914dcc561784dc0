from django.urls import path

from curation.api import views

urlpatterns = [
    path("datasets/", views.dataset_list, name="api-dataset-list"),
    path("datasets/<slug:name>/", views.dataset_detail, name="api-dataset-detail"),
    path("images/", views.image_list, name="api-image-list"),
    path("images/<int:image_id>/", views.image_detail, name="api-image-detail"),
    path("images/<int:image_id>/labels/", views.image_labels, name="api-image-labels"),
    path("images/<int:image_id>/history/", views.image_history, name="api-image-history"),
]
