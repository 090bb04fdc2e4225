from django.urls import path

from jobs import views
from heygem_site import ids  # noqa: F401  (registers the <id:...> converter)

urlpatterns = [
    path("", views.workspace, name="home"),
    path("jobs/<id:job_id>/", views.job_detail, name="job"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/<id:result_id>/", views.player, name="player"),
    path("gallery/<id:result_id>/delete/", views.delete_current, name="delete-current"),
]
