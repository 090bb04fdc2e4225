"""Plain dataclasses passed in and out of the engine: settings, probe results, the run report."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

LENGTH_POLICIES = ("pingpong", "loop", "cut")
# The driving voice's language, as the retrieval planner hears it: "en" recognises English words and plans the
# mouth from their phones; "other" (any other language) follows the voice's first formant instead.
SPEECH_LANGUAGES = ("en", "other")


@dataclass
class Config:
    """Everything a run may change. Defaults suit a 2-core CPU worker.

    ``length_policy`` says what happens when the template is shorter than the audio: ``pingpong`` plays it
    forwards then backwards (no visible jump), ``loop`` restarts it, ``cut`` ends the output with the template
    (the output is then shorter than the audio). A longer template is always cut to the audio.
    """

    backend: str = "auto"
    length_policy: str = "pingpong"
    preset: str = "veryfast"
    crf: int = 18
    device: str = "auto"  # "auto" picks CUDA when present, else CPU
    batch_size: int = 32  # frames per render batch; also how often should_cancel() is polled
    threads: int = 0  # 0: all cores
    # Limits; None disables one.
    max_duration_s: float | None = 600.0
    max_pixels: int | None = 3840 * 2160
    max_bytes: int | None = 2 * 1024**3
    # Neural backend (issue 4). `auto` prefers it when set; asking for `wav2lip` without it is an error.
    # A local file in an official layout (wav2lip.pth, wav2lip_gan.pth or a fine-tune); nothing is downloaded.
    wav2lip_checkpoint: str | None = None
    # fp16 autocast for the generator on CUDA (ignored on CPU, where half precision is slower, not faster).
    wav2lip_fp16: bool = False
    # Pixels added around the landmark box before the 96x96 crop: top, bottom, left, right (the official
    # inference.py default gives the chin 10 px; raise `top` to move the mouth up in the crop).
    wav2lip_pads: tuple = (0, 10, 0, 0)
    # Unpickle a checkpoint the safe (weights_only) loader refuses. Only for files an operator vouches for: a full
    # unpickle runs whatever code the file carries.
    wav2lip_trusted: bool = False
    # MuseTalk 1.5 (issue 13): the official `models/` folder (musetalkV15/, sd-vae/, whisper/, face-parse-bisent/).
    # `auto` prefers it when set and the worker has a GPU; asking for `musetalk` without it is an error.
    musetalk_dir: str | None = None
    # fp16 autocast for its UNet and VAE on CUDA (ignored on CPU).
    musetalk_fp16: bool = False
    # Frames per UNet/VAE call and per render batch (the official default is 8).
    musetalk_batch: int = 8
    # Retrieval (issue 4): a local wav2vec2-family model directory (``save_pretrained`` layout). When set, its
    # features replace the log-mels in retrieval's acoustic terms; nothing is downloaded.
    wav2vec2_model: str | None = None
    # The language spoken in the driving audio (``SPEECH_LANGUAGES``). "en": English words are recognised and
    # the mouth is planned from their phones. "other": no words are recognised; the mouth opens with the voice's
    # first formant (F1 rises as the jaw opens, in any language) and all-phone decoding places its pauses and
    # P/B/M closures (retrieval.model.heard_targets). Planned Mandarin sync +0.07 as "en", +0.38 as "other";
    # English +0.46 as "en", +0.28 as "other". Phones passed to ``generate(phones=...)`` by a typed script are
    # exact in any language: the caller asks for "en" then. Only the retrieval backend plans from phones; the
    # other backends hear any language as sound and ignore this.
    speech_language: str = "en"
    # Per-frame mouth choices and targets are added to the report when True (benchmarks use them).
    debug: bool = False

    def __post_init__(self):
        from .backends import names

        if self.backend != "auto" and self.backend not in names():
            raise ValueError(f"backend must be one of {('auto',) + names()}")
        if self.length_policy not in LENGTH_POLICIES:
            raise ValueError(f"length_policy must be one of {LENGTH_POLICIES}")
        if self.speech_language not in SPEECH_LANGUAGES:
            raise ValueError(f"speech_language must be one of {SPEECH_LANGUAGES}")
        if not 0 <= self.crf <= 51:
            raise ValueError("crf must be within 0..51")
        if len(self.wav2lip_pads) != 4:
            raise ValueError("wav2lip_pads must be (top, bottom, left, right)")
        self.wav2lip_pads = tuple(int(p) for p in self.wav2lip_pads)
        if int(self.musetalk_batch) < 1:
            raise ValueError("musetalk_batch must be at least 1")
        self.musetalk_batch = int(self.musetalk_batch)


@dataclass
class MediaInfo:
    """What ``probe`` learns about a file. Video sizes are as displayed, after rotation."""

    path: str
    container: str
    duration_s: float
    size_bytes: int
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    rotation: int = 0  # degrees clockwise applied for display: 0, 90, 180 or 270
    fps: float | None = None  # average frame rate
    frame_count: int | None = None  # as declared by the container; may be missing or approximate
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    """What a finished run did. ``seconds`` maps stage name to wall seconds."""

    output: str
    backend: str
    backend_reason: str
    frames_out: int
    template_frames: int
    frames_with_face: int  # template frames where the face was tracked
    frames_without_face: int  # template frames passed through unchanged
    face_coverage: float  # frames_with_face / template_frames
    output_duration_s: float
    audio_duration_s: float
    fps: float
    width: int
    height: int
    template_speech_s: float = 0.0
    length_policy: str = "pingpong"  # as applied (ping-pong falls back to loop for templates over 24 GiB raw)
    frames_kept_own_mouth: int = 0  # frames showing the base's own mouth: no face, or no chosen mouth lined up
    acoustic_features: str = ""  # retrieval: "log-mel" or "wav2vec2" (what its acoustic terms compared)
    # The voice's language as the mouth was planned for it (Config.speech_language); empty for the backends
    # that plan from no phones.
    speech_language: str = ""
    device: str = "cpu"
    # wav2lip on CUDA: the generator's GPU memory in bytes ({"allocated", "peak", "free", "total"}); None on CPU
    # and for the other backends.
    gpu_memory: dict | None = None
    seconds: dict = field(default_factory=dict)
    # The phones recognised in the driving audio, [(ARPAbet phone, start_s, end_s), ...]: passed back as
    # ``generate(phones=...)``, they spare the next run on the same audio its recognition (batch mode: one
    # audio, many videos). None when phones were given or the backend does not use them.
    heard_phones: list | None = None
    debug: dict | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("debug", None)
        out.pop("heard_phones", None)
        return out
