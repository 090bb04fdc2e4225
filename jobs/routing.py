from django.urls import path

from jobs import consumers

websocket_urlpatterns = [
    path("ws/jobs/<int:job_id>/", consumers.JobConsumer.as_asgi()),
    path("ws/gallery/", consumers.GalleryConsumer.as_asgi()),
]
