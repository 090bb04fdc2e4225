import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Team


def asset_path(asset, filename):
    # The stored name is generated; the user's file name (any script, any length) is only displayed.
    return f"teams/{asset.team_id}/uploads/{uuid.uuid4().hex}{PurePosixPath(filename).suffix}"


def output_path(result, filename):
    return f"teams/{result.job.team_id}/outputs/{result.job_id}/{result.pk}-{uuid.uuid4().hex[:8]}-{filename}"


class Asset(models.Model):
    """An uploaded audio or video, validated by its content (probed with PyAV)."""

    class Kind(models.TextChoices):
        AUDIO = "audio", _("Audio")
        VIDEO = "video", _("Video")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="assets", verbose_name=_("team"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets",
                              verbose_name=_("owner"))
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices)
    original_name = models.CharField(_("file name"), max_length=255)
    file = models.FileField(_("file"), upload_to=asset_path, max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    duration_s = models.FloatField(_("duration (s)"))
    has_audio = models.BooleanField(_("has sound"), default=False)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    fps = models.FloatField(_("frames per second"), null=True, blank=True)
    rotation = models.PositiveSmallIntegerField(_("rotation"), default=0)
    video_codec = models.CharField(_("video codec"), max_length=32, blank=True)
    audio_codec = models.CharField(_("audio codec"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("file")
        verbose_name_plural = _("files")
        ordering = ["-created_at", "-pk"]
        # Per uploader, not per team: an asset is visible to its owner (and the team's managers), so a
        # teammate uploading the same bytes must get a copy they can see.
        constraints = [models.UniqueConstraint(fields=["team", "owner", "sha256"], name="one_stored_copy_per_owner")]

    def __str__(self):
        return self.original_name


class Job(models.Model):
    """One audio and one or more videos (batch mode: one audio x N videos); one Result per video.

    A job made from a script has no audio until its speech is synthesised (`speak_script`): the spoken
    script then becomes an ordinary audio asset, and its phone timings drive the lips."""

    class Backend(models.TextChoices):
        AUTO = "auto", _("Automatic")
        RETRIEVAL = "retrieval", _("Retrieval (uses the template's own speech)")
        WARP = "warp", _("Warp")
        WAV2LIP = "wav2lip", _("Wav2Lip (neural)")
        MUSETALK = "musetalk", _("MuseTalk (neural, GPU)")

    class LengthPolicy(models.TextChoices):
        PINGPONG = "pingpong", _("Play the video forwards and backwards")
        LOOP = "loop", _("Loop the video")
        CUT = "cut", _("Stop when the video ends")

    class SpeechLanguage(models.TextChoices):
        # The engine's Config.speech_language: English words are recognised, or the lips follow the voice's sound.
        ENGLISH = "en", _("English")
        OTHER = "other", _("Another language")

    class Quality(models.TextChoices):
        STANDARD = "standard", _("Standard")
        HIGH = "high", _("High")
        SMALL = "small", _("Small file")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("team"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs",
                                   verbose_name=_("created by"))
    audio = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="audio_jobs", null=True, blank=True,
                              verbose_name=_("voice"))
    script = models.TextField(_("script"), blank=True)
    voice = models.CharField(_("voice"), max_length=100, blank=True)
    speed = models.FloatField(_("speed"), default=1.0)
    # The audio's phones, [[ARPAbet phone, start_s, end_s], ...]: a spoken script's, or those the engine heard
    # in the audio while making the job's first video (services.keep_heard_phones). The engine uses them
    # instead of recognising phones in the audio again.
    phones = models.JSONField(_("phones"), null=True, blank=True)
    # Set while a worker speaks the script; an old value means that worker was lost.
    speech_claimed_at = models.DateTimeField(_("speech claimed"), null=True, blank=True)
    backend = models.CharField(_("engine"), max_length=10, choices=Backend.choices, default=Backend.AUTO)
    length_policy = models.CharField(_("when the voice is longer"), max_length=10, choices=LengthPolicy.choices,
                                     default=LengthPolicy.PINGPONG)
    quality = models.CharField(_("quality"), max_length=10, choices=Quality.choices, default=Quality.STANDARD)
    # The language spoken in the audio. Not used for a script, whose phones are exact in any language.
    speech_language = models.CharField(_("language of the voice"), max_length=10, choices=SpeechLanguage.choices,
                                       default=SpeechLanguage.ENGLISH)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    webhook_secret = models.CharField(_("webhook secret"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    next_seq = models.PositiveBigIntegerField(_("next event number"), default=0)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                                    name="one_job_per_idempotency_key"),
        ]

    def __str__(self):
        return gettext("Job %(id)s") % {"id": self.pk}

    @property
    def is_batch(self):
        return self.results.count() > 1

    @property
    def needs_speech(self):
        return bool(self.script) and self.audio_id is None


class Result(models.Model):
    """The output of one video of a job; the unit a worker runs."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (State.QUEUED, State.RUNNING)
    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    # States whose minutes count against the monthly quota (a failed or cancelled result is free).
    BILLABLE = (State.QUEUED, State.RUNNING, State.SUCCEEDED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="results", verbose_name=_("job"))
    video = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="video_results", verbose_name=_("video"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(_("progress"), default=0.0)
    stage = models.CharField(_("stage"), max_length=40, blank=True)
    frames_done = models.PositiveIntegerField(_("frames done"), default=0)
    frames_total = models.PositiveIntegerField(_("frames in all"), default=0)
    minutes = models.FloatField(_("minutes"),
                                help_text=_("Minutes of output this result counts against the monthly quota."))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The worker process running it ("host:pid", jobs.recovery.worker_name), so a dead one is noticed at once.
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    # When it last entered the queue: a queued result with no message after a grace period is sent again.
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    output = models.FileField(_("output"), upload_to=output_path, max_length=255, blank=True)
    thumbnail = models.FileField(_("thumbnail"), upload_to=output_path, max_length=255, blank=True)
    output_size = models.PositiveBigIntegerField(_("output size (bytes)"), default=0)
    thumbnail_size = models.PositiveBigIntegerField(_("thumbnail size (bytes)"), default=0)
    output_duration_s = models.FloatField(_("output duration (s)"), null=True, blank=True)
    backend_used = models.CharField(_("engine used"), max_length=20, blank=True)
    # Why the engine chose that backend ("requested", "MuseTalk weights are configured and the worker has a
    # GPU", ...), in the engine's words.
    backend_reason = models.CharField(_("why this engine"), max_length=200, blank=True)
    timings = models.JSONField(_("stage seconds"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error_message = models.CharField(_("error message"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("video result")
        verbose_name_plural = _("video results")
        ordering = ["job_id", "pk"]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="result_state_heartbeat")]

    def __str__(self):
        return gettext("Video %(id)s of job %(job)s") % {"id": self.pk, "job": self.job_id}

    @property
    def is_active(self):
        return self.state in self.ACTIVE


class JobEvent(models.Model):
    """The ordered log of a job: state changes, progress and log lines. The UI replays it by `seq`."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events", verbose_name=_("job"))
    result = models.ForeignKey(Result, on_delete=models.SET_NULL, null=True, blank=True, related_name="events",
                               verbose_name=_("result"))
    seq = models.PositiveBigIntegerField(_("number"))
    kind = models.CharField(_("kind"), max_length=40)
    message = models.CharField(_("message"), max_length=1000, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["job_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_event_per_job_and_seq")]

    def as_message(self):
        return {"seq": self.seq, "kind": self.kind, "result": self.result_id, "message": self.message,
                "data": self.data, "time": self.created_at.isoformat()}


class Upload(models.Model):
    """A resumable upload in progress: the browser sends chunks, then completes it into an Asset."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="uploads")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    received = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # On S3 the chunks are parts of a multipart upload that becomes the object `stored_name` (any web replica
    # takes the next one); on local storage they are appended to part_path() and these stay empty.
    stored_name = models.CharField(max_length=255, blank=True)
    multipart_id = models.CharField(max_length=255, blank=True)
    parts = models.PositiveIntegerField(default=0)

    def part_path(self):
        return settings.UPLOAD_PARTS_DIR / f"{self.pk}.part"
