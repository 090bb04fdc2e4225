"""User-fixable errors of the web side, and the translated message for every error code.

The engine's errors carry stable codes (inference.errors); the user sees the message mapped here,
in their language, never the exception's text.
"""

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    # From the engine.
    "unsupported_media": _("This file is not a video or audio format we can read."),
    "no_video_stream": _("This file has no video track. Choose a video of the person."),
    "no_audio_stream": _("This file has no sound track. Choose an audio file with speech."),
    "no_face": _("No face was found in the video. Use a video where the face is clearly visible."),
    "input_too_long": _("The file is longer than this server allows (%(minutes)d minutes)."),
    "input_too_large": _("The file or its picture size is larger than this server allows."),
    "cancelled": _("The job was cancelled."),
    "model_unavailable": _("The requested lip-sync model is not installed on this server."),
    "gpu_out_of_memory": _("The server's graphics card ran out of memory for this video, even one frame at a time. "
                           "Try a smaller video, or ask an admin to free the GPU."),
    # From the web side.
    "no_team": _("You are not in any team yet. Ask a team owner to add you."),
    "empty_file": _("The file is empty."),
    "file_too_large": _("The file is larger than this server allows (%(size)s)."),
    "quota_storage": _("Your team's storage is full. Delete old videos or ask an admin for more space."),
    "quota_jobs": _("Your team already runs as many jobs as it may at once. Wait for one to finish."),
    "quota_minutes": _("This job would exceed your team's generated minutes for this month."),
    "wrong_kind": _("This file is not the right kind here: a video is needed for the person, an audio for the voice."),
    "asset_in_use": _("This file is used by a job that is still running."),
    "upload_offset": _("This part of the upload does not continue where the file stopped. Resume from the reported size."),
    "upload_incomplete": _("The upload is not complete yet."),
    "upload_range": _("The Content-Range header must read bytes START-END/TOTAL, with START no greater than END."),
    "upload_part_small": _("Each part of this upload but the last must be at least %(size)s. Send larger parts."),
    "upload_part_large": _("A part of an upload may be at most %(size)s. Send smaller parts."),
    "upload_damaged": _("Parts of this upload were lost or sent twice. Upload the file again."),
    "not_retryable": _("Only a failed or cancelled video can be run again."),
    "too_many_uploads": _("You already have %(count)d uploads in progress. Finish or remove some first."),
    "low_disk": _("The server is almost out of disk space. New videos are paused until an admin frees some."),
    "worker_lost": _("The worker processing this video stopped responding."),
    # Scripts (text-to-speech).
    "script_empty": _("The script has no words to speak. Type some text."),
    "script_too_long": _("Spoken, this script would be longer than this server allows (%(minutes)d minutes). "
                         "Shorten it or split it into several jobs."),
    "script_language": _("This voice cannot speak the script's language. Choose a voice in the script's language."),
    "unknown_voice": _("There is no voice with this name. Choose one from the list."),
    "voice_unavailable": _("This voice's files are missing or damaged on this server. Choose another voice or "
                           "ask an admin."),
    "audio_or_script": _("Give either an audio file or a script for the voice, not both."),
    "internal_error": _("Something went wrong on our side. The job id is %(job)s; an admin can look it up."),
    "webhook_url": _("The webhook address must be an http:// or https:// URL with a host name."),
    "webhook_unresolved": _("The webhook host %(host)s could not be found."),
    "webhook_address": _("The webhook host %(host)s leads to %(address)s, %(kind)s address: this server only calls "
                         "public addresses."),
}


# The HTTP status the API answers with for a refusal; 400 for any code not listed.
HTTP_STATUS = {
    "no_team": 403, "file_too_large": 413, "input_too_large": 413, "asset_in_use": 409, "upload_offset": 409,
    "upload_incomplete": 409, "not_retryable": 409, "quota_storage": 403, "quota_jobs": 429, "quota_minutes": 403,
    "too_many_uploads": 429, "low_disk": 507, "upload_part_large": 413, "upload_damaged": 409, "script_too_long": 413, "voice_unavailable": 503,
}


def http_status(code):
    return HTTP_STATUS.get(code, 400)


class Refused(Exception):
    """A request the user can fix; carries a stable code and a translated message."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params
        super().__init__(code)

    @property
    def message(self):
        return message_for(self.code, **self.params)


def message_for(code, **params):
    """The message for `code` in the active language. Numbers are formatted here, at render time,
    so a message stored or raised under one language shows correctly in another."""
    template = MESSAGES.get(code, MESSAGES["internal_error"])
    values = {"job": "?", "minutes": settings.MAX_INPUT_SECONDS // 60, "count": 0, "size": "", "host": "",
              "address": "", "kind": ""} | params
    if "limit_bytes" in params:
        values["size"] = filesizeformat(params["limit_bytes"])
    return str(template) % values
