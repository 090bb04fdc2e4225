"""wav2vec2 features per video frame from a local model directory: a tiny random model saved here."""
import os

import numpy as np
import pytest

from inference import ModelUnavailable


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                            conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            vocab_size=10)
    path = tmp_path_factory.mktemp("wav2vec2-tiny")
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def speechlike():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3 + 123) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_features_come_per_video_frame_from_a_local_directory(model_dir, speechlike):
    from inference.wav2vec2 import Wav2Vec2Features

    features = Wav2Vec2Features(model_dir)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    out = features(speechlike, 76, 25)
    assert out.shape == (76, 32) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, features(speechlike, 76, 25))
    frames, times = features.frames(speechlike)
    assert len(frames) == len(times) == 150  # 20 ms hops over 3 s
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-9)


def test_chunked_long_audio_keeps_the_same_frame_grid(model_dir, speechlike):
    from inference.wav2vec2 import Wav2Vec2Features

    whole = Wav2Vec2Features(model_dir).frames(speechlike)
    chunked = Wav2Vec2Features(model_dir, chunk_s=1.0, context_s=0.5).frames(speechlike)
    np.testing.assert_allclose(chunked[1], whole[1])
    assert chunked[0].shape == whole[0].shape
    # Attention is global, so values differ a little at chunk edges, but stay related.
    corr = np.corrcoef(chunked[0].ravel(), whole[0].ravel())[0, 1]
    assert corr > 0.8


@pytest.mark.parametrize("name", ["facebook/wav2vec2-base", "", "missing_dir"])
def test_a_name_or_missing_directory_is_unavailable_without_any_lookup(tmp_path, name):
    from inference.wav2vec2 import Wav2Vec2Features

    with pytest.raises(ModelUnavailable):
        Wav2Vec2Features(str(tmp_path / name) if name == "missing_dir" else name)


def test_a_directory_with_a_broken_model_is_unavailable(tmp_path):
    from inference.wav2vec2 import Wav2Vec2Features

    (tmp_path / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(ModelUnavailable, match="not a loadable"):
        Wav2Vec2Features(tmp_path)


@pytest.mark.slow
def test_retrieval_matches_sounds_on_wav2vec2_features_when_configured(tmp_path, mk, model_dir, real_template):
    import inference

    drive = mk.write_audio(tmp_path / "d.wav", mk.read_pcm(mk.media("speech_radio_16k_stereo_8s.wav"), 3.0))
    runs = {}
    for name, model in (("mel", None), ("w2v", str(model_dir))):
        config = inference.Config(backend="retrieval", preset="ultrafast", debug=True, wav2vec2_model=model)
        runs[name] = inference.generate(real_template, drive, tmp_path / f"{name}.mp4", config)
    mel, w2v = runs["mel"], runs["w2v"]
    assert (mel.acoustic_features, w2v.acoustic_features) == ("log-mel", "wav2vec2")
    assert mel.debug["drive"].acoustic is None
    assert w2v.debug["drive"].acoustic.shape == (w2v.frames_out, 32)
    assert w2v.debug["template"].acoustic.shape == (w2v.template_frames, 32)
    assert "model" in w2v.seconds
    # The features really steer the choice of template frames (same audio, same template, other features).
    assert (mel.debug["sources"] != w2v.debug["sources"]).mean() > 0.05


def test_a_bad_wav2vec2_directory_fails_before_any_media_work(tmp_path, speech_wav, face_clip):
    import inference

    stages = []
    with pytest.raises(ModelUnavailable):
        inference.generate(face_clip, speech_wav, tmp_path / "out.mp4",
                           inference.Config(backend="retrieval", wav2vec2_model=str(tmp_path / "nothing")),
                           on_progress=lambda stage, *rest: stages.append(stage))
    assert set(stages) == {"probe"} and not list(tmp_path.glob("out*"))
