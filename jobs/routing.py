from django.urls import path

from jobs import consumers
from heygem_site import ids  # noqa: F401  (registers the <id:...> converter)

websocket_urlpatterns = [
    path("ws/jobs/<id:job_id>/", consumers.JobConsumer.as_asgi()),
    path("ws/gallery/", consumers.GalleryConsumer.as_asgi()),
]
