"""Errors the engine raises on purpose.

Each class carries a stable ``code`` the web side translates, and a short English ``message`` that is safe to
show a user. Anything else escaping ``inference.generate`` is a bug and should be logged, not shown.
"""


class InferenceError(Exception):
    code = "inference_error"
    message = "The video could not be processed."

    def __init__(self, detail: str = ""):
        # ``detail`` is for logs only (file names, codec names); never show it to a user.
        self.detail = detail
        super().__init__(f"{self.code}: {self.message}" + (f" ({detail})" if detail else ""))


class UnsupportedMedia(InferenceError):
    code = "unsupported_media"
    message = "This file is not a video or audio format we can read."


class NoVideoStream(InferenceError):
    code = "no_video_stream"
    message = "The template file has no video track."


class NoAudioStream(InferenceError):
    code = "no_audio_stream"
    message = "The audio file has no sound track."


class NoFace(InferenceError):
    code = "no_face"
    message = "No face was found in the template video."


class InputTooLong(InferenceError):
    code = "input_too_long"
    message = "The input is longer than allowed."


class InputTooLarge(InferenceError):
    code = "input_too_large"
    message = "The input file or resolution is larger than allowed."


class Cancelled(InferenceError):
    code = "cancelled"
    message = "The job was cancelled."


class ModelUnavailable(InferenceError):
    code = "model_unavailable"
    message = "The requested lip-sync model is not available on this server."


class ScriptEmpty(InferenceError):
    code = "script_empty"
    message = "The script has no words to speak."


class ScriptTooLong(InferenceError):
    code = "script_too_long"
    message = "The script would be longer than allowed once spoken."


class ScriptLanguage(InferenceError):
    code = "script_language"
    message = "This voice cannot speak the script's language."


class UnknownVoice(InferenceError):
    code = "unknown_voice"
    message = "There is no voice with this name."


class VoiceUnavailable(InferenceError):
    code = "voice_unavailable"
    message = "This voice's files are missing or damaged on this server."


class GpuOutOfMemory(InferenceError):
    code = "gpu_out_of_memory"
    message = "The server's GPU ran out of memory for this video."


ALL_ERRORS = (
    UnsupportedMedia,
    NoVideoStream,
    NoAudioStream,
    NoFace,
    InputTooLong,
    InputTooLarge,
    Cancelled,
    ModelUnavailable,
    ScriptEmpty,
    ScriptTooLong,
    ScriptLanguage,
    UnknownVoice,
    VoiceUnavailable,
    GpuOutOfMemory,
)
