"""MuseTalk's ``generate`` and ``blend`` on generated weights: shapes, determinism, colour order, and agreement
with the official pipeline's steps written out plainly (spec §5, §6.3-§6.5) over the same networks.

Real faces come from ../shared/media; the box is the backend's own (FaceMesh, official convention).
"""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from inference.backends.musetalk import MuseTalk, synthetic
from inference.backends.musetalk.render import face_bbox


@pytest.fixture(scope="module")
def model(musetalk_models):
    return MuseTalk.load(musetalk_models)


@pytest.fixture(scope="module")
def woman(mk):
    """Frame 12 of woman_blue (700x700 RGB) and its v1.5 box from our landmarks."""
    from inference.face import FaceTracker

    frame = mk.read_rgb(mk.media("woman_blue_700sq_30fps.mp4"), 1, start=12)[0]
    yuv = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
    tracker = FaceTracker(30.0)
    try:
        found = tracker.track(yuv, 700, 700)
    finally:
        tracker.close()
    assert found is not None
    return frame, face_bbox(found[0], 700, 700)


@pytest.fixture(scope="module")
def crops(woman, mk):
    frame, (x1, y1, x2, y2) = woman
    other = mk.read_rgb(mk.media("man_map_844sq_25fps.mp4"), 1, start=12, size=256)[0]
    first = cv2.resize(frame[y1:y2, x1:x2], (256, 256), interpolation=cv2.INTER_LANCZOS4)
    return np.stack([first, other])


@pytest.fixture(scope="module")
def feats(model, mk):
    samples = mk.read_pcm(mk.media("speech_16k_mono_10s.wav"), 1.2, start=2.0)
    return model.audio_features(samples, fps=25)


def official_generate(model, crop, feat):
    """One crop as the official script does it: float64 /255, lower half zeroed, (x - 0.5) / 0.5, two VAE
    encodings (a sample: the generated VAE's std is 3e-7), UNet at timestep [0], decode, round."""
    masks = torch.zeros(256, 256)
    masks[:128] = 1
    latents = []
    for half in (True, False):
        x = torch.FloatTensor(np.transpose(np.asarray(crop) / 255.0, (2, 0, 1)))
        if half:
            x = x * (masks > 0.5)
        x = ((x - 0.5) / 0.5)[None]
        with torch.no_grad():
            latents.append(model.vae.config.scaling_factor * model.vae.encode(x).latent_dist.sample())
    with torch.no_grad():
        pred = model.unet(torch.cat(latents, 1), torch.tensor([0]), encoder_hidden_states=feat[None]).sample
        image = model.vae.decode((1 / model.vae.config.scaling_factor) * pred).sample
    image = (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().numpy()
    return (image * 255).round().astype("uint8")[0]


@pytest.fixture(scope="module")
def faces(model, crops, feats):
    return model.generate(crops, feats[[3, 17]])


def test_generate_gives_256_faces_deterministically_and_per_sample(model, crops, feats, faces):
    assert faces.shape == (2, 256, 256, 3) and faces.dtype == np.uint8
    alone = model.generate(crops[1:], feats[[17]])
    assert np.array_equal(alone, model.generate(crops[1:], feats[[17]]))
    assert np.abs(alone[0].astype(int) - faces[1]).max() <= 1  # a sample does not depend on its batch
    assert np.abs(faces[0].astype(int) - model.generate(crops[:1], feats[[4]])[0]).max() > 0  # audio matters


def test_generate_matches_the_official_steps(model, crops, feats, faces):
    for k, row in enumerate((3, 17)):
        ref = official_generate(model, crops[k], feats[row])
        assert np.abs(faces[k].astype(int) - ref).max() <= 2  # the spec's faces tolerance


def test_the_vae_sees_rgb_and_the_decoded_face_comes_back_rgb(tmp_path, musetalk_models, crops, feats):
    """A VAE whose encoder reads only the red channel and whose decoder always draws pure red."""
    root = shutil.copytree(musetalk_models, tmp_path / "models")
    state = synthetic.vae_state(synthetic.REDUCED_VAE)
    state["encoder.conv_in.weight"][:, 1:] = 0
    state["decoder.conv_out.weight"].zero_()
    state["decoder.conv_out.bias"].copy_(torch.tensor([1.0, -1.0, -1.0]))
    torch.save(state, Path(root) / "sd-vae" / "diffusion_pytorch_model.bin")
    m = MuseTalk.load(root)
    patches = np.zeros((3, 256, 256, 3), np.uint8)
    patches[1, :128, :, 0] = 255  # a red patch in the upper half (the half the masked input keeps)
    patches[2, :128, :, 2] = 255  # a blue one
    lat = m.latents(patches)
    assert not torch.allclose(lat[1], lat[0]) and torch.equal(lat[2], lat[0])
    faces = m.generate(crops, feats[:2])
    assert (faces[..., 0] == 255).all() and (faces[..., 1:] == 0).all()


def reference_blend(model, frame, face, bbox):
    """Spec §6.5 with Pillow and OpenCV, as the official get_image / FaceParsing("jaw", 90, 90) do it."""
    x, y, x1, y1 = bbox
    body = Image.fromarray(frame)
    face = Image.fromarray(cv2.resize(face, (x1 - x, y1 - y)))
    xc, yc = (x + x1) // 2, (y + y1) // 2
    s = int(max(x1 - x, y1 - y) // 2 * 1.5)
    crop_box = [xc - s, yc - s, xc + s, yc + s]
    x_s, y_s = crop_box[:2]
    face_large = body.crop(crop_box)
    ori_shape = face_large.size
    # FaceParsing.__call__ in "jaw" mode
    img = np.asarray(face_large.resize((512, 512), Image.BILINEAR), dtype=np.float32) / 255
    img = (img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        parsing = model.parser(torch.from_numpy(img.transpose(2, 0, 1).copy())[None])[0].numpy().argmax(0)
    kernel = np.zeros((33, 33), np.uint8)
    for row in range(21):
        if row >= 10:
            width = 2 * (row - 10) + 1
            kernel[row, 16 - width // 2 : 16 + width // 2 + 1] = 1
    kernel[21:, 16 - 10 : 16 + 11] = 1
    cheek = np.zeros((512, 512), np.uint8)
    cv2.rectangle(cheek, (0, 0), (256 - 90, 512), 255, -1)
    cv2.rectangle(cheek, (256 + 90, 0), (512, 512), 255, -1)
    region = (np.isin(parsing, [1]) * 255).astype(np.uint8)
    dilated = cv2.dilate(region, kernel, iterations=1)
    eroded = cv2.erode(dilated, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (35, 3)), iterations=2)
    region = cv2.bitwise_or(cv2.bitwise_and(eroded, cheek), cv2.bitwise_and(dilated, ~cheek))
    parsing[(region == 255) & (~np.isin(parsing, [10]))] = 255
    parsing[np.isin(parsing, [11, 12, 13])] = 255
    parsing[parsing != 255] = 0
    mask_image = Image.fromarray(parsing.astype(np.uint8)).resize(ori_shape)
    # get_image
    mask_small = mask_image.crop((x - x_s, y - y_s, x1 - x_s, y1 - y_s))
    mask_image = Image.new("L", ori_shape, 0)
    mask_image.paste(mask_small, (x - x_s, y - y_s, x1 - x_s, y1 - y_s))
    width, height = mask_image.size
    top = int(height * 0.5)
    modified = Image.new("L", ori_shape, 0)
    modified.paste(mask_image.crop((0, top, width, height)), (0, top))
    k = int(0.05 * ori_shape[0] // 2 * 2) + 1
    mask_image = Image.fromarray(cv2.GaussianBlur(np.array(modified), (k, k), 0))
    face_large.paste(face, (x - x_s, y - y_s, x1 - x_s, y1 - y_s))
    body.paste(face_large, crop_box[:2], mask_image)
    return np.array(body), np.array(mask_image), crop_box


@pytest.mark.parametrize("shift", [(0, 0), (-250, 160)], ids=["inside", "crop box leaves the frame"])
def test_blend_matches_the_official_jaw_blend_and_leaves_the_rest_alone(model, woman, faces, shift):
    frame, (x1, y1, x2, y2) = woman
    dx, dy = shift
    bbox = (max(x1 + dx, 0), y1 + dy, x2 + dx, min(y2 + dy, 700))
    face = faces[0]
    out = model.blend(frame, face, bbox)
    ref, ref_mask, crop_box = reference_blend(model, frame, face, bbox)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (np.abs(out.astype(int) - ref) <= 2).all(axis=2).mean() >= 0.999
    box, mask = model.masks([frame], [bbox])[0]
    assert list(box) == crop_box and np.array_equal(mask, ref_mask)
    assert (mask > 0).mean() > 0.02, "the generated parser should find some jaw to blend"
    # Outside the mask nothing moved: not a level, in the frame or in the crop box.
    weights = np.zeros(frame.shape[:2], np.int32)
    xs, ys, xe, ye = box
    sub = weights[max(ys, 0) : ye, max(xs, 0) : xe]
    sub[:] = mask[max(ys, 0) - ys : max(ys, 0) - ys + sub.shape[0], max(xs, 0) - xs : max(xs, 0) - xs + sub.shape[1]]
    assert np.array_equal(out[weights == 0], frame[weights == 0])
    assert (out[weights > 0] != frame[weights > 0]).any()
    # Only the lower half of the crop box can change: rows from its centre down, less the feather's half width.
    top = max(ys + (ye - ys) // 2 - (int(0.05 * (xe - xs) // 2 * 2) + 1) // 2, 0)
    assert np.array_equal(out[:top], frame[:top])


def test_a_red_face_stays_red_in_the_frame(model, woman):
    frame, bbox = woman
    red = np.zeros((256, 256, 3), np.uint8)
    red[..., 0] = 255
    box, mask = model.masks([frame], [bbox])[0]
    out = model.blend(frame, red, bbox, mask=(box, mask))
    xs, ys = box[:2]
    full = np.argwhere(mask == 255) + [ys, xs]
    assert len(full) > 100
    assert (out[full[:, 0], full[:, 1]] == [255, 0, 0]).all()
    changed = (out != frame).any(axis=2)
    assert (out[changed][:, 0].astype(int) >= frame[changed][:, 0]).all()  # only ever towards red


def test_blend_mix_is_pillows_paste_to_the_level():
    from inference.backends.musetalk.blend import mix

    rng = np.random.default_rng(1)
    base, top = rng.integers(0, 256, (2, 64, 80, 3), dtype=np.uint8)
    weights = rng.integers(0, 256, (64, 80), dtype=np.uint8)
    weights[:5] = 0
    weights[-5:] = 255
    body = Image.fromarray(base)
    body.paste(Image.fromarray(top), (0, 0), Image.fromarray(weights))
    assert np.array_equal(mix(base, top, weights), np.asarray(body))


def test_crops_of_the_wrong_shape_are_refused(model, feats):
    with pytest.raises(ValueError, match="256, 256, 3"):
        model.generate(np.zeros((1, 96, 96, 3), np.uint8), feats[:1])
    with pytest.raises(ValueError, match="1 latents but 2"):
        model.generate(np.zeros((1, 256, 256, 3), np.uint8), feats[:2])
