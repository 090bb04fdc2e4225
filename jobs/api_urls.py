from django.urls import path

from jobs import api
from heygem_site import ids  # noqa: F401  (registers the <id:...> converter)

urlpatterns = [
    path("assets/", api.assets, name="api-assets"),
    path("assets/<id:asset_id>/", api.asset_detail, name="api-asset"),
    path("assets/<id:asset_id>/file/", api.asset_file, name="api-asset-file"),
    path("uploads/", api.uploads, name="api-uploads"),
    path("uploads/<uuid:upload_id>/", api.upload_detail, name="api-upload"),
    path("uploads/<uuid:upload_id>/complete/", api.upload_complete, name="api-upload-complete"),
    path("jobs/", api.jobs, name="api-jobs"),
    path("jobs/<id:job_id>/", api.job_detail, name="api-job"),
    path("jobs/<id:job_id>/cancel/", api.job_cancel, name="api-job-cancel"),
    path("jobs/<id:job_id>/events/", api.job_events, name="api-job-events"),
    path("results/<id:result_id>/", api.result_detail, name="api-result"),
    path("results/<id:result_id>/cancel/", api.result_cancel, name="api-result-cancel"),
    path("results/<id:result_id>/retry/", api.result_retry, name="api-result-retry"),
    path("results/<id:result_id>/download/", api.result_download, name="api-result-download"),
    path("results/<id:result_id>/thumbnail/", api.result_thumbnail, name="api-result-thumbnail"),
    path("results/bulk-delete/", api.results_bulk_delete, name="api-results-bulk-delete"),
    path("results/zip/", api.results_zip, name="api-results-zip"),
    path("usage/", api.team_usage, name="api-usage"),
    path("voices/", api.voices, name="api-voices"),
    path("voices/preview/", api.voice_preview, name="api-voice-preview"),
]
