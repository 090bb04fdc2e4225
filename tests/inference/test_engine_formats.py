"""Every common codec and container in, the same H.264/AAC MP4 out, as long as the driving audio."""
import pytest

import inference

FAST = dict(backend="warp", preset="ultrafast")


def check_output(path, audio_s, width, height, fps=25):
    info = inference.probe(path)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (width, height)
    assert info.container.startswith("mov,mp4")
    # Output duration follows the audio, within one frame.
    assert abs(info.frame_count / fps - audio_s) <= 1.0 / fps + 1e-6
    assert abs(info.duration_s - audio_s) <= 1.0 / fps + 0.002
    return info


@pytest.mark.parametrize(
    "codec,ext,pix_fmt,decoder",
    [
        ("libx264", ".mp4", "yuv420p", "h264"),
        ("libx265", ".mkv", "yuv420p", "hevc"),
        ("mpeg4", ".avi", "yuv420p", "mpeg4"),
        ("libvpx-vp9", ".webm", "yuv420p", "vp9"),
        ("prores_ks", ".mov", "yuv422p10le", "prores"),
        ("flv", ".flv", "yuv420p", "flv"),
    ],
)
def test_each_codec_and_container_is_read(tmp_path, mk, face_frames, face_audio, speech_wav, codec, ext, pix_fmt,
                                          decoder):
    template = mk.write_video(tmp_path / f"t{ext}", face_frames[:25], codec=codec, audio=face_audio[:16000],
                              pix_fmt=pix_fmt)
    assert inference.probe(template).video_codec == decoder
    report = inference.generate(template, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    check_output(tmp_path / "out.mp4", 3.0, 256, 256)
    assert report.frames_out == 75 and report.face_coverage > 0.9


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".ogg", ".m4a"])
def test_each_audio_format_drives(tmp_path, mk, face_clip, ext):
    samples = mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 1.5)
    audio = mk.write_audio(tmp_path / f"a{ext}", samples)
    report = inference.generate(face_clip, audio, tmp_path / "out.mp4", inference.Config(**FAST))
    # Lossy codecs pad the end a little; what counts is the audio as decoded.
    assert abs(report.audio_duration_s - 1.5) < 0.12
    check_output(tmp_path / "out.mp4", report.audio_duration_s, 256, 256)


def test_a_portrait_phone_video_comes_out_upright(tmp_path, mk, face_frames, face_audio, speech_wav):
    # Stored sideways (as phones do) with a display matrix saying "turn a quarter clockwise".
    import numpy as np

    sideways = [np.ascontiguousarray(np.rot90(f[:, 32:224], 1)) for f in face_frames[:25]]
    template = mk.write_video(tmp_path / "phone.mp4", sideways, rotation=-90, audio=face_audio[:16000])
    report = inference.generate(template, speech_wav, tmp_path / "out.mp4", inference.Config(**FAST))
    check_output(tmp_path / "out.mp4", 3.0, 192, 256)
    # Upright, the face is found; sideways it would not be.
    assert report.face_coverage > 0.9
    first = mk.decode_rgb(str(tmp_path / "out.mp4"))[0].astype(float)
    assert np.abs(first - face_frames[0][:, 32:224]).mean() < 12
