from django.urls import path

from jobs import views

urlpatterns = [
    path("", views.workspace, name="home"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/<int:result_id>/", views.player, name="player"),
    path("gallery/<int:result_id>/delete/", views.delete_current, name="delete-current"),
]
