"""The generator and SyncNet_color run forward on CPU with random weights; the LSE scores find a known offset."""
import numpy as np
import pytest
import torch

from inference.backends.wav2lip.nets import SyncNetColor, Wav2Lip
from inference.backends.wav2lip.sync import VSHIFT, face_windows, sync_scores


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return Wav2Lip().eval()


@pytest.fixture(scope="module")
def syncnet():
    torch.manual_seed(0)
    return SyncNetColor().eval()


def test_the_generator_maps_mel_and_faces_to_bgr_faces_in_0_1_sample_by_sample(generator):
    audio = torch.empty(3, 1, 80, 16).uniform_(-4, 4)
    face = torch.rand(3, 6, 96, 96)
    seen = {}
    # The audio embedding must be what the decoder starts from (spec §2.3), not a face feature.
    def keep_first(name, which):
        def hook(module, inputs, output):
            # Returns None: a hook's return value would replace the output.
            seen.setdefault(name, (inputs[0] if which == "in" else output).clone())
        return hook

    hooks = [generator.face_decoder_blocks[0].register_forward_hook(keep_first("x", "in")),
             generator.face_decoder_blocks[0].register_forward_hook(keep_first("dec0", "out")),
             generator.face_encoder_blocks[6].register_forward_hook(keep_first("enc6", "out")),
             generator.face_decoder_blocks[1].register_forward_hook(keep_first("dec1_in", "in"))]
    try:
        with torch.inference_mode():
            out = generator(audio, face)
            embedding = generator.audio_encoder(audio)
            alone = generator(audio[2:3], face[2:3])
    finally:
        for h in hooks:
            h.remove()
    # Skip connections: decoder output first, encoder feature second (swapping them keeps every shape).
    torch.testing.assert_close(seen["dec1_in"], torch.cat([seen["dec0"], seen["enc6"]], dim=1))
    assert out.shape == (3, 3, 96, 96) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0
    assert seen["x"].shape == (3, 512, 1, 1)
    torch.testing.assert_close(seen["x"], embedding)
    # Eval-mode BatchNorm: a sample's result does not depend on the rest of its batch.
    torch.testing.assert_close(out[2:3], alone, atol=1e-5, rtol=0)


def test_the_training_layout_is_the_time_unrolled_inference_layout(generator):
    audio = torch.empty(1, 2, 1, 80, 16).uniform_(-4, 4)  # (B, T, 1, 80, 16)
    face = torch.rand(1, 6, 2, 96, 96)  # (B, 6, T, 96, 96)
    with torch.inference_mode():
        out = generator(audio, face)
        single = generator(audio[0, 1][None], face[0, :, 1][None])
    assert out.shape == (1, 3, 2, 96, 96)
    torch.testing.assert_close(out[0, :, 1], single[0], atol=1e-5, rtol=0)


def test_syncnet_gives_normalised_non_negative_embeddings(syncnet):
    with torch.inference_mode():
        a, v = syncnet(torch.empty(2, 1, 80, 16).uniform_(-4, 4), torch.rand(2, 15, 48, 96))
    assert a.shape == v.shape == (2, 512)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(v.norm(dim=1), torch.ones(2))
    assert a.min() >= 0 and v.min() >= 0
    cos = (a * v).sum(1)
    assert ((cos >= 0) & (cos <= 1 + 1e-6)).all()


def test_face_windows_stack_lower_halves_of_five_frames_in_order():
    faces = np.zeros((7, 96, 96, 3), dtype=np.uint8)
    for i in range(7):
        faces[i, 48:] = (10 * i, 10 * i + 1, 10 * i + 2)  # B, G, R of frame i's lower half
        faces[i, :48] = 255  # upper half must not appear
    win = face_windows(faces)
    assert win.shape == (3, 15, 48, 96) and win.dtype == np.float32
    for k in range(3):
        for f in range(5):
            for c in range(3):
                assert np.allclose(win[k, 3 * f + c], (10 * (k + f) + c) / 255.0)


@pytest.mark.parametrize("true_shift", [0, 3, -5])
def test_sync_scores_find_a_known_offset(true_shift):
    rng = np.random.default_rng(5)
    n = 60
    audio = np.abs(rng.standard_normal((n + 40, 512)))
    audio /= np.linalg.norm(audio, axis=1, keepdims=True)
    # Video window i looks like audio window i + true_shift (plus noise).
    video = audio[20 + true_shift : 20 + true_shift + n] + 0.02 * np.abs(rng.standard_normal((n, 512)))
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    scores = sync_scores(video, audio[20 : 20 + n])
    assert scores["offset"] == -true_shift  # syncnet_python's convention: offset = vshift - best index
    assert scores["distances"].shape == (2 * VSHIFT + 1,)
    assert scores["lse_d"] < 0.4 and scores["lse_c"] > 0.3
    unrelated = sync_scores(video, np.roll(audio[20 : 20 + n], 31, axis=0))
    assert unrelated["lse_c"] < scores["lse_c"] / 3


def test_a_residual_block_adds_its_input_before_the_relu():
    from inference.backends.wav2lip.nets import Conv2d

    block = Conv2d(4, 4, 3, 1, 1, residual=True).eval()
    with torch.no_grad():
        block.conv_block[0].weight.zero_()
        block.conv_block[0].bias.zero_()
    x = torch.randn(1, 4, 5, 5)
    out = block(x)
    # relu(BN(0) + x) = relu(x); adding after the ReLU would let negative inputs through.
    torch.testing.assert_close(out, torch.relu(x))
