"""MuseTalk's audio features: Whisper states cut into per-frame windows exactly as the official v1.5 script.

The reference below is the spec's §6.1 steps written out plainly (segments, trim, pad, windows, flatten, positional
encoding) over the same encoder; the backend must agree with it to float precision, including the official
int(fps) chunking for a 29.97 fps video and the count of frames.
"""
import math

import numpy as np
import pytest
import torch

from inference.backends.musetalk import MuseTalk
from inference.backends.musetalk.audio import FrameFeatures, positional_encoding


@pytest.fixture(scope="module")
def model(musetalk_models):
    return MuseTalk.load(musetalk_models)


@pytest.fixture(scope="module")
def clip(mk):
    """1.2 s of real speech (19,200 samples), the spec's reference excerpt."""
    samples = mk.read_pcm(mk.media("speech_16k_mono_10s.wav"), 1.2, start=2.0)
    assert len(samples) == 19_200
    return samples


@pytest.fixture(scope="module")
def hidden(model, clip):
    """The encoder's five hidden states for the clip (one 30-s segment), each [1, 1500, 384]."""
    mel = model.extractor(clip, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        return model.encoder(mel, output_hidden_states=True).hidden_states


def reference_features(hidden, n, fps):
    """Spec §6.1 steps 4-9, one by one (a 1.2 s clip is a single segment)."""
    feats = torch.stack(hidden, dim=2)  # [1, 1500, 5, 384]
    fps = int(fps)
    m = 50 / fps
    feats = feats[:, : math.floor(n / 16000 * 50)]
    p = math.ceil(m)
    feats = torch.cat([torch.zeros_like(feats[:, : p * 2]), feats, torch.zeros_like(feats[:, : p * 3 * 2])], 1)
    blocks = []
    for i in range(math.floor(n / 16000 * fps)):
        clip = feats[:, math.floor(i * m) : math.floor(i * m) + 10]
        assert clip.shape[1] == 10
        blocks.append(clip)
    out = torch.cat(blocks).reshape(len(blocks), 50, 384)
    pe = torch.tensor([[math.sin(p_ * math.exp(2 * (c // 2) * -math.log(10000) / 384)) if c % 2 == 0
                        else math.cos(p_ * math.exp(2 * (c // 2) * -math.log(10000) / 384)) for c in range(384)]
                       for p_ in range(50)], dtype=torch.float64)
    return out.double() + pe


@pytest.mark.parametrize("fps,rows", [(25, 30), (30, 36), (29.97, 34)])
def test_the_features_are_the_official_windows_with_the_positional_encoding(model, clip, hidden, fps, rows):
    feats = model.audio_features(clip, fps=fps)
    assert feats.dtype == torch.float32 and feats.shape == (rows, 50, 384)
    ref = reference_features(hidden, len(clip), fps)
    assert ref.shape == feats.shape
    assert (feats.double() - ref).abs().max() < 1e-4  # the spec's bar; float32 PE products explain ~1e-6


def test_row_5t_plus_l_is_time_step_t_of_hidden_state_l(model, clip, hidden):
    feats = model.audio_features(clip, fps=25) - positional_encoding()[None]
    # Frame 10 at 25 fps starts at Whisper frame 2*10 - 4 = 16; row 5*3 + 4 is step 3 of the last (normed) state.
    assert torch.allclose(feats[10, 5 * 3 + 4], hidden[4][0, 16 + 3], atol=1e-5)
    assert torch.allclose(feats[10, 5 * 0 + 0], hidden[0][0, 16], atol=1e-5)
    # Frame 0 reaches 80 ms before the audio: its first four time steps are the zero padding.
    assert feats[0, : 5 * 4].abs().max() == 0 and feats[0, 5 * 4 :].abs().max() > 0


def test_the_positional_encoding_is_sin_and_cos_of_the_position():
    pe = positional_encoding().double()
    p, i = 7, 5
    w = math.exp(2 * i * -math.log(10000) / 384)
    assert pe[p, 2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-6)
    assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-6)
    assert torch.equal(pe[0, 0::2], torch.zeros(192, dtype=torch.float64))


def test_the_engine_features_follow_the_real_frame_rate_and_any_length(model, clip):
    official = model.audio_features(clip, fps=25)
    engine = model.frame_features(clip, 25, 32)  # two frames more than the audio lasts
    assert len(engine) == 32
    assert torch.allclose(engine.rows(0, 30), official, atol=1e-6)
    assert torch.allclose(engine.rows(7, 9), official[7:9], atol=1e-6)
    tail = engine.rows(30, 32) - positional_encoding()[None]
    assert tail[:, 5 * 6 :].abs().max() == 0  # past the audio: silence (zeros), not an error
    # At 29.97 fps frame 100 sits at 3.337 s, Whisper frame 166; chunked at 29 fps it would be 172.
    states = torch.zeros(600, 5, 384)
    states[:, 0, 0] = torch.arange(600, dtype=torch.float32)
    rows = FrameFeatures(states, 12 * 16000, 29.97, 120, torch.zeros(50, 384)).rows(100, 101)
    assert rows[0, 5 * 4, 0].item() == math.floor(100 * 50 / 29.97)  # time step 4 is the frame's own


def test_silence_and_an_empty_input_give_well_formed_features(model):
    assert model.audio_features(np.zeros(0, np.float32), fps=25).shape == (0, 50, 384)
    quiet = model.audio_features(np.zeros(8000, np.float32), fps=25)
    assert quiet.shape == (12, 50, 384) and torch.isfinite(quiet).all()
