"""REST API for assets, uploads, jobs and results (/api/v1/). Every object goes through jobs.access."""

import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field,
                                   inline_serializer)
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, parser_classes, permission_classes, throttle_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

import inference
from accounts.access import current_membership, get_team_for_user
from heygem_site.api import error_body
from heygem_site.ids import MAX_ID, parse_id
from jobs import access, services
from jobs import uploads as resumable
from jobs.downloads import stream_file, zip_response
from jobs.errors import Refused, message_for
from jobs.models import Asset, Job, JobEvent, Result

MAX_BATCH = 100


class IdField(serializers.IntegerField):
    """An object id: a whole number the database can hold (a larger one is a 400, not a 500)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


# --- Serializers -------------------------------------------------------------------------------

class AssetSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = ["id", "kind", "original_name", "size", "sha256", "duration_s", "has_audio", "width", "height",
                  "fps", "rotation", "video_codec", "audio_codec", "created_at", "url"]

    def get_url(self, asset) -> str:
        return reverse("api-asset-file", args=[asset.pk])


class ResultSerializer(serializers.ModelSerializer):
    video_name = serializers.CharField(source="video.original_name", read_only=True)
    error = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Result
        fields = ["id", "job", "video", "video_name", "state", "progress", "stage", "frames_done", "frames_total",
                  "created_at", "started_at", "finished_at", "output_duration_s", "output_size", "backend_used",
                  "backend_reason",
                  "timings", "error", "download_url", "thumbnail_url"]

    @extend_schema_field(inline_serializer("ResultError", fields={"code": serializers.CharField(),
                                                                  "message": serializers.CharField()},
                                           allow_null=True))
    def get_error(self, result):
        if not result.error_code or result.state == Result.State.CANCELLED:
            return None
        return {"code": result.error_code, "message": message_for(result.error_code, job=result.job_id)}

    def get_download_url(self, result) -> str | None:
        return reverse("api-result-download", args=[result.pk]) if result.output else None

    def get_thumbnail_url(self, result) -> str | None:
        return reverse("api-result-thumbnail", args=[result.pk]) if result.thumbnail else None


class JobSerializer(serializers.ModelSerializer):
    audio_name = serializers.SerializerMethodField()
    results = ResultSerializer(many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    text = serializers.CharField(source="script", read_only=True)
    webhook_url = serializers.CharField(read_only=True, help_text=_("Where the finished job is announced; empty for none."))

    class Meta:
        model = Job
        fields = ["id", "team", "created_by", "audio", "audio_name", "text", "voice", "speed", "backend",
                  "length_policy", "quality", "speech_language", "webhook_url", "created_at", "finished_at",
                  "results"]

    def get_audio_name(self, job) -> str | None:
        # A script job has no audio until its speech is synthesised.
        return job.audio.original_name if job.audio_id else None


class JobCreateSerializer(serializers.Serializer):
    team = IdField(required=False, help_text=_("Defaults to the current team."))
    audio = IdField(required=False, allow_null=True, default=None, help_text=_("An audio asset; or give `text` instead."))
    text = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False,
                                 max_length=settings.MAX_SCRIPT_CHARS, default=None, help_text=_("A script to speak instead of an audio asset."))
    voice = serializers.CharField(required=False, allow_blank=True, default="", max_length=100,
                                  help_text=_("A voice id from /api/v1/voices/; defaults to the first."))
    speed = serializers.FloatField(required=False, default=1.0, min_value=0.5, max_value=2.0)
    videos = serializers.ListField(child=IdField(), min_length=1, max_length=MAX_BATCH)
    backend = serializers.ChoiceField(Job.Backend.choices, default=Job.Backend.AUTO)
    length_policy = serializers.ChoiceField(Job.LengthPolicy.choices, default=Job.LengthPolicy.PINGPONG)
    quality = serializers.ChoiceField(Job.Quality.choices, default=Job.Quality.STANDARD)
    speech_language = serializers.ChoiceField(
        Job.SpeechLanguage.choices, default=Job.SpeechLanguage.ENGLISH,
        error_messages={"invalid_choice": _('Choose "en" (the voice speaks English) or "other" (any other language).')},
        help_text=_("The language spoken in the audio: `en` English (its words are recognised), `other` any other "
                    "language (the lips follow the sound of the voice). Ignored with `text`: a script's sounds are "
                    "known exactly."))
    webhook_url = serializers.URLField(required=False, allow_blank=True, default="")


class UploadCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    team = IdField(required=False)


class AssetUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(Asset.Kind.choices, required=False, allow_blank=True)
    team = IdField(required=False)


class UploadCompleteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(Asset.Kind.choices, required=False, allow_blank=True)


class IdsSerializer(serializers.Serializer):
    ids = serializers.ListField(child=IdField(), min_length=1, max_length=1000)


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    received = serializers.IntegerField()


class JobCreatedSerializer(JobSerializer):
    webhook_secret = serializers.CharField(required=False, help_text=_(
        "Only in the answer that created a job with a webhook: the key its signatures are made with."))

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["webhook_secret"]


class EventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    kind = serializers.CharField()
    result = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    data = serializers.JSONField()
    time = serializers.DateTimeField()


class EventsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    events = EventSerializer(many=True)


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.ListField(child=serializers.IntegerField())


class UsageSerializer(serializers.Serializer):
    storage_bytes = serializers.IntegerField()
    storage_limit = serializers.IntegerField()
    active_jobs = serializers.IntegerField()
    jobs_limit = serializers.IntegerField()
    minutes = serializers.FloatField()
    minutes_limit = serializers.IntegerField()


def paginated(serializer_class):
    """The schema of a page of `serializer_class` objects, as the list endpoints answer."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(f"Paginated{name}List", fields={
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": serializer_class(many=True)})


PAGE = OpenApiParameter("page", int, description="Page number (50 per page).")
MEDIA = {"200": "The file.", "206": "Part of the file (a Range request).", "416": "The range is outside the file."}


def _media(content_type):
    return {(200, content_type): OpenApiTypes.BINARY, (206, content_type): OpenApiTypes.BINARY,
            416: OpenApiResponse(description=MEDIA["416"])}


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)  # The API's error shape names each field and what is wrong.
    return serializer.validated_data


def _query_id(request, name, minimum=1):
    """An optional id (or other count from `minimum`) in the query string; a malformed one is a 400 that says so."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    number = parse_id(value) if value.strip() != "0" else 0
    if number is None or number < minimum:
        raise serializers.ValidationError({name: [
            _("A whole number between %(min)s and %(max)s is required.") % {"min": minimum, "max": MAX_ID}]})
    return number


def _team(request, team_id=None):
    if team_id is not None:
        return get_team_for_user(request.user, team_id)
    membership = current_membership(request)
    if membership is None:
        raise Refused("no_team")
    return membership.team


def _page(request, queryset, serializer_class):
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _jobs_queryset(user):
    return access.jobs_for_user(user).select_related("audio", "created_by").prefetch_related(
        Prefetch("results", queryset=Result.objects.select_related("video").order_by("pk")))


# --- Assets and uploads ------------------------------------------------------------------------

@extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
    "file": {"type": "string", "format": "binary"}, "kind": {"type": "string", "enum": ["audio", "video"]},
    "team": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}, "required": ["file"]}},
    responses={201: AssetSerializer}, methods=["POST"], operation_id="assets_upload")
@extend_schema(methods=["GET"], responses=paginated(AssetSerializer), operation_id="assets_list",
               parameters=[PAGE, OpenApiParameter("kind", str, enum=Asset.Kind.values)])
@api_view(["GET", "POST"])
@parser_classes([MultiPartParser, JSONParser])
def assets(request):
    """GET: the assets you can see. POST (multipart `file`, optional `kind`): upload one."""
    if request.method == "GET":
        queryset = access.assets_for_user(request.user)
        if request.query_params.get("kind") in Asset.Kind.values:
            queryset = queryset.filter(kind=request.query_params["kind"])
        return _page(request, queryset, AssetSerializer)
    options = _validated(AssetUploadSerializer, {k: v for k, v in request.data.items() if k in ("kind", "team")})
    uploaded = request.FILES.get("file")
    if uploaded is None:
        raise Refused("empty_file")
    team = _team(request, options.get("team"))
    asset = services.ingest_file(team, request.user, uploaded.temporary_file_path(), uploaded.name,
                                 options.get("kind") or None)
    return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses=AssetSerializer, operation_id="assets_retrieve")
@extend_schema(methods=["DELETE"], responses={204: None}, operation_id="assets_destroy")
@api_view(["GET", "DELETE"])
def asset_detail(request, asset_id):
    asset = access.get_asset_for_user(request.user, asset_id)
    if request.method == "DELETE":
        services.delete_asset(asset)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(AssetSerializer(asset).data)


@extend_schema(responses={**_media("video/mp4"), **{(code, "audio/mpeg"): OpenApiTypes.BINARY for code in (200, 206)}},
               operation_id="assets_file")
@api_view(["GET"])
@permission_classes([AllowAny])  # Media answers 404 to anyone not allowed, signed in or not.
def asset_file(request, asset_id):
    asset = access.get_asset_for_user(request.user, asset_id)
    content_type = "video/mp4" if asset.kind == Asset.Kind.VIDEO else "audio/mpeg"
    return stream_file(request, asset.file, asset.original_name, content_type)


def _upload_data(upload):
    return {"id": str(upload.pk), "name": upload.original_name, "size": upload.size, "received": upload.received}


@extend_schema(request=UploadCreateSerializer, responses={201: UploadSerializer}, operation_id="uploads_create")
@api_view(["POST"])
def uploads(request):
    """Starts a resumable upload: then PUT its bytes in order with Content-Range, then POST complete/."""
    data = _validated(UploadCreateSerializer, request.data)
    team = _team(request, data.get("team"))
    upload = resumable.start_upload(team, request.user, data["name"], data["size"])
    return Response(_upload_data(upload), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses=UploadSerializer, operation_id="uploads_retrieve")
@extend_schema(methods=["PUT"], request={"application/octet-stream": OpenApiTypes.BINARY},
               responses={200: UploadSerializer}, operation_id="uploads_update",
               parameters=[OpenApiParameter("Content-Range", location="header", description="bytes START-END/TOTAL")])
@extend_schema(methods=["DELETE"], responses={204: None}, operation_id="uploads_destroy")
@api_view(["GET", "PUT", "DELETE"])
@parser_classes([])
def upload_detail(request, upload_id):
    """GET: how many bytes arrived (resume from there). PUT: the next chunk. DELETE: abandon it."""
    upload = access.get_upload_for_user(request.user, upload_id)
    if request.method == "GET":
        return Response(_upload_data(upload))
    if request.method == "DELETE":
        resumable.abandon_upload(upload)
        return Response(status=status.HTTP_204_NO_CONTENT)
    header = request.headers.get("Content-Range", "")
    start = resumable.content_range_start(header)
    try:
        resumable.append_chunk(upload, start, request.stream, resumable.content_range_length(header))
    except resumable.OffsetConflict:
        return Response({**error_body("upload_offset", message_for("upload_offset")), **_upload_data(upload)},
                        status=status.HTTP_409_CONFLICT)
    return Response(_upload_data(upload))


@extend_schema(request=UploadCompleteSerializer, responses={201: AssetSerializer}, operation_id="uploads_complete")
@api_view(["POST"])
def upload_complete(request, upload_id):
    """Validates the uploaded bytes by content and turns them into an asset (or refuses, keeping nothing)."""
    upload = access.get_upload_for_user(request.user, upload_id)
    if upload.received != upload.size:
        raise Refused("upload_incomplete")
    kind = _validated(UploadCompleteSerializer, request.data).get("kind") or None
    asset = resumable.complete_upload(upload, request.user, kind)
    return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


# --- Jobs --------------------------------------------------------------------------------------

@extend_schema(request=JobCreateSerializer, responses={201: JobCreatedSerializer, 200: JobSerializer}, methods=["POST"],
               operation_id="jobs_create",
               parameters=[OpenApiParameter("Idempotency-Key", location="header", required=False)])
@extend_schema(methods=["GET"], responses=paginated(JobSerializer), operation_id="jobs_list", parameters=[PAGE])
@api_view(["GET", "POST"])
def jobs(request):
    """GET: your jobs (a team admin sees the team's). POST: one audio with one or more videos."""
    if request.method == "GET":
        return _page(request, _jobs_queryset(request.user), JobSerializer)
    data = _validated(JobCreateSerializer, request.data)
    team = _team(request, data.get("team"))
    if (data["audio"] is None) == (data["text"] is None):
        raise Refused("audio_or_script")
    visible = access.assets_for_user(request.user).filter(team=team)
    audio = visible.filter(pk=data["audio"]).first() if data["audio"] is not None else None
    videos_by_id = visible.in_bulk(data["videos"])
    if (data["audio"] is not None and audio is None) or any(pk not in videos_by_id for pk in data["videos"]):
        raise serializers.ValidationError({"assets": [_("No such asset in this team.")]})
    script = None
    if data["text"] is not None:
        script = {"text": data["text"], "voice": data["voice"] or _default_voice(), "speed": data["speed"]}
    job, created = services.create_job(
        request.user, team, audio, [videos_by_id[pk] for pk in data["videos"]], script=script,
        backend=data["backend"],
        length_policy=data["length_policy"], quality=data["quality"], speech_language=data["speech_language"],
        idempotency_key=request.headers.get("Idempotency-Key", "")[:100], webhook_url=data["webhook_url"])
    body = JobSerializer(_jobs_queryset(request.user).get(pk=job.pk)).data
    if created and job.webhook_secret:
        body["webhook_secret"] = job.webhook_secret  # Shown once: the receiver checks signatures with it.
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(responses=JobSerializer, operation_id="jobs_retrieve")
@api_view(["GET"])
def job_detail(request, job_id):
    return Response(JobSerializer(access.get_or_404(_jobs_queryset(request.user), job_id)).data)


@extend_schema(request=None, responses=JobSerializer, operation_id="jobs_cancel")
@api_view(["POST"])
def job_cancel(request, job_id):
    job = access.get_job_for_user(request.user, job_id)
    services.cancel_job(job)
    return Response(JobSerializer(_jobs_queryset(request.user).get(pk=job.pk)).data)


@extend_schema(parameters=[OpenApiParameter("after", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                                            description="Only events with a larger seq")], operation_id="jobs_events",
               responses=EventsSerializer)
@api_view(["GET"])
def job_events(request, job_id):
    """The job's log in order; pass ?after=SEQ to fetch what a client missed."""
    job = access.get_job_for_user(request.user, job_id)
    after = _query_id(request, "after", minimum=0) or 0
    events = JobEvent.objects.filter(job=job, seq__gt=after).order_by("seq")[:1000]
    return Response({"job": job.pk, "events": [event.as_message() for event in events]})


# --- Results -----------------------------------------------------------------------------------

@extend_schema(methods=["GET"], responses=ResultSerializer, operation_id="results_retrieve")
@extend_schema(methods=["DELETE"], responses={204: None}, operation_id="results_destroy")
@api_view(["GET", "DELETE"])
def result_detail(request, result_id):
    result = access.get_result_for_user(request.user, result_id)
    if request.method == "DELETE":
        services.delete_result(result)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(ResultSerializer(result).data)


@extend_schema(request=None, responses=ResultSerializer, operation_id="results_cancel")
@api_view(["POST"])
def result_cancel(request, result_id):
    result = access.get_result_for_user(request.user, result_id)
    services.cancel_result(result)
    result.refresh_from_db()
    return Response(ResultSerializer(result).data)


@extend_schema(request=None, responses=ResultSerializer, operation_id="results_retry")
@api_view(["POST"])
def result_retry(request, result_id):
    """Runs a failed or cancelled video again (counted against the team's quota like a new one)."""
    result = access.get_result_for_user(request.user, result_id)
    if not services.retry_result(result, by_user=True):
        raise Refused("not_retryable")
    result.refresh_from_db()
    return Response(ResultSerializer(result).data)


@extend_schema(responses=_media("video/mp4"), operation_id="results_download",
               parameters=[OpenApiParameter("download", str, enum=["1"], description="1: as an attachment")])
@api_view(["GET"])
@permission_classes([AllowAny])  # Media answers 404 to anyone not allowed, signed in or not.
def result_download(request, result_id):
    result = access.get_result_for_user(request.user, result_id)
    if not result.output:
        raise Http404
    name = result.video.original_name.rsplit(".", 1)[0] + ".mp4"
    return stream_file(request, result.output, name, "video/mp4", inline=request.query_params.get("download") != "1")


@extend_schema(responses=_media("image/jpeg"), operation_id="results_thumbnail")
@api_view(["GET"])
@permission_classes([AllowAny])  # Media answers 404 to anyone not allowed, signed in or not.
def result_thumbnail(request, result_id):
    result = access.get_result_for_user(request.user, result_id)
    if not result.thumbnail:
        raise Http404
    return stream_file(request, result.thumbnail, f"{result.pk}.jpg", "image/jpeg")


@extend_schema(request=IdsSerializer, responses=DeletedSerializer, operation_id="results_bulk_delete")
@api_view(["POST"])
def results_bulk_delete(request):
    ids = _validated(IdsSerializer, request.data)["ids"]
    results = list(access.results_for_user(request.user).filter(pk__in=ids).select_related("video"))
    for result in results:
        services.delete_result(result)
    return Response({"deleted": sorted(r.pk for r in results)})


@extend_schema(parameters=[OpenApiParameter("ids", str, description="Comma-separated result ids"),
                           OpenApiParameter("job", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                                            description="Every finished result of a job")],
               responses={(200, "application/zip"): OpenApiTypes.BINARY}, operation_id="results_zip")
@api_view(["GET"])
def results_zip(request):
    """A ZIP of the finished results picked by `ids` or `job`, streamed as it is built."""
    queryset = access.results_for_user(request.user).filter(state=Result.State.SUCCEEDED).exclude(output="")
    job_id = _query_id(request, "job")
    if job_id is not None:
        queryset = queryset.filter(job_id=job_id)
        filename = f"heygem-job-{job_id}.zip"
    else:
        ids = [parse_id(part) for part in request.query_params.get("ids", "").split(",")[:1000] if part.strip()]
        queryset = queryset.filter(pk__in=[pk for pk in ids if pk is not None])
        filename = "heygem-videos.zip"
    results = list(queryset.select_related("video").order_by("pk"))
    if not results:
        raise Http404
    return zip_response(request, results, filename)


@extend_schema(responses=UsageSerializer, operation_id="usage_retrieve", parameters=[
    OpenApiParameter("team", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="Defaults to the current team.")])
@api_view(["GET"])
def team_usage(request):
    """Your current team's usage against its quota."""
    return Response(services.usage(_team(request, _query_id(request, "team"))))


# --- Voices (scripts) ---------------------------------------------------------------------------

class VoiceSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField(help_text=_("Language and region, e.g. en_US or zh_CN."))
    family = serializers.CharField(help_text=_("The language alone: the scripts this voice can speak."))
    engine = serializers.CharField()
    sample_rate = serializers.IntegerField()
    source = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=settings.MAX_SCRIPT_CHARS)
    voice = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    speed = serializers.FloatField(required=False, default=1.0, min_value=0.5, max_value=2.0)


class PreviewRate(UserRateThrottle):
    """A preview is spoken on the web server, so each person gets VOICE_PREVIEWS_PER_MINUTE of them a minute."""

    scope = "voice_preview"

    def get_rate(self):
        return f"{settings.VOICE_PREVIEWS_PER_MINUTE}/min"  # Read per request, not frozen at import.


# A one-sentence preview takes seconds; the lock outlives it only when its process died holding it.
PREVIEW_LOCK_SECONDS = 60
PREVIEW_BUSY_RETRY_SECONDS = 2


@contextmanager
def one_preview_at_a_time(user):
    """Holds the user's preview lock, or raises Throttled: a second preview while one is being spoken would
    double the web server's work within the rate limit. The lock is in the shared cache, so it holds across
    web processes."""
    key = f"voice-preview-busy:{user.pk}"
    if not cache.add(key, 1, timeout=PREVIEW_LOCK_SECONDS):
        raise exceptions.Throttled(wait=PREVIEW_BUSY_RETRY_SECONDS)
    try:
        yield
    finally:
        cache.delete(key)


def _default_voice():
    from inference import voices as engine_voices

    return engine_voices.default_voice_id(settings.VOICES_DIRS) or ""


@extend_schema(responses=VoiceSerializer(many=True), operation_id="voices_list")
@api_view(["GET"])
def voices(request):
    """The voices a script can be spoken with: installed here, nothing downloaded. The first is the default."""
    from inference import voices as engine_voices

    return Response([voice.to_dict() for voice in engine_voices.list_voices(settings.VOICES_DIRS)])


@extend_schema(request=PreviewSerializer, responses={(200, "audio/wav"): OpenApiTypes.BINARY},
               operation_id="voices_preview")
@api_view(["POST"])
@throttle_classes([PreviewRate])
def voice_preview(request):
    """The script's first sentence, spoken: a WAV to play before any job is made."""
    from inference import voices as engine_voices

    data = _validated(PreviewSerializer, request.data)
    voice = data["voice"] or _default_voice()
    services.check_script(data["text"], voice, data["speed"])
    with one_preview_at_a_time(request.user), tempfile.TemporaryDirectory(prefix="heygem-preview-") as workdir:
        path = Path(workdir) / "preview.wav"
        try:
            engine_voices.synthesize(data["text"], voice, str(path), speed=data["speed"], folders=settings.VOICES_DIRS,
                                     align=False, max_sentences=1)
        except inference.InferenceError as exc:
            raise Refused(exc.code) from exc
        response = HttpResponse(path.read_bytes(), content_type="audio/wav")
    response["Cache-Control"] = "no-store"
    return response
