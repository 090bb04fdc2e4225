"""MuseTalk on engine frames: the official box from FaceMesh landmarks, the I420 paste kept to the lower face,
frames without a face, and latents and masks computed once per template frame."""
import cv2
import numpy as np
import pytest
import torch

from inference.backends.musetalk import MuseTalk
from inference.backends.musetalk.audio import FrameFeatures
from inference.backends.musetalk.blend import MOUTH_CLASSES
from inference.backends.musetalk.render import (MuseTalkRenderer, face_bbox, guarded, lower_face_guard,
                                                render_stream)
from inference.face import FACE_OVAL, FaceTracker, interocular

W = H = 320


@pytest.fixture(scope="module")
def model(musetalk_models):
    return MuseTalk.load(musetalk_models)


@pytest.fixture(scope="module")
def clip(mk):
    """Three frames of a real face (RGB and I420) with the tracker's raw and smoothed landmarks."""
    rgb = mk.read_rgb(mk.media("woman_glasses_524sq_25fps.mp4"), 3, W)
    yuv = [cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420).reshape(-1) for f in rgb]
    tracker = FaceTracker(25.0)
    try:
        found = [tracker.track(f, W, H) for f in yuv]
    finally:
        tracker.close()
    assert all(found)
    return rgb, yuv, [f[1] for f in found]


def test_the_box_runs_from_the_brows_to_below_the_chin_and_ear_to_ear(clip):
    _, _, marks = clip
    lm = marks[0]
    x1, y1, x2, y2 = face_bbox(lm, W, H)
    brows = lm[[105, 334], 1].mean()
    chin = lm[152, 1]
    # dlib's mean face puts the official top (mirror of the chin about landmark 29) 0.34 of the brow-to-chin
    # height above the brows: around the hairline.
    assert 0.2 < (brows - y1) / (chin - brows) < 0.45
    assert y2 == int(np.floor(lm[[152, 148, 377], 1].max())) + 10 or y2 == H // 4 * 4  # chin + extra margin
    assert x1 <= lm[234, 0] and lm[454, 0] <= x2 + 1  # the face's outline, ear to ear...
    assert x2 - x1 < 1.15 * (lm[454, 0] - lm[234, 0])  # ...and not much more
    assert x1 < lm[61, 0] < lm[291, 0] < x2 and y1 < lm[13, 1] < y2  # the mouth inside


def test_boxes_stay_inside_the_frame_and_degenerate_ones_are_no_face(clip):
    lm = clip[2][0].copy()
    lm[:, 1] += H - lm[152, 1] - 2  # chin at the bottom edge: the margin is capped
    assert face_bbox(lm, W, H)[3] == H
    assert face_bbox(np.full((478, 2), 5.0, np.float32), W, H) is None
    assert face_bbox(np.full((478, 2), np.nan, np.float32), W, H) is None


def test_frames_are_painted_inside_the_guarded_mask_only_and_faceless_frames_pass_through(model, clip):
    rgb, yuv, marks = clip
    frames = [f.copy() for f in yuv]
    feats = FrameFeatures(model.encoder.embed_positions.weight.new_zeros((150, 5, 384)), 48000, 25, 3, model.pe)
    renderer = MuseTalkRenderer(model, W, H)
    try:
        out = []
        changed = render_stream(renderer, iter(frames), [0, 1, 2], np.stack(marks), np.array([True, False, True]),
                                feats, out.append, batch_size=2)
        assert changed == 2 and len(out) == 3
        assert np.array_equal(out[1], yuv[1])  # no face: untouched, and still in its place
        for i in (0, 2):
            bbox = face_bbox(marks[i], W, H)
            box, jaw = model.masks([rgb[i]], [bbox])[0]
            mask = guarded(jaw, lower_face_guard(marks[i], box, W, H))
            got = cv2.cvtColor(out[i].reshape(H * 3 // 2, W), cv2.COLOR_YUV2RGB_I420)
            base = cv2.cvtColor(yuv[i].reshape(H * 3 // 2, W), cv2.COLOR_YUV2RGB_I420)
            weights = np.zeros((H, W), np.uint8)
            xs, ys, xe, ye = box
            ax, ay, bx, by = max(xs, 0), max(ys, 0), min(xe, W), min(ye, H)
            weights[ay:by, ax:bx] = mask[ay - ys : by - ys, ax - xs : bx - xs]
            # Luma outside the mask is bit-exact; chroma too, away from the mask's edge (2x2 subsampling).
            y_out, y_in = out[i][: W * H].reshape(H, W), yuv[i][: W * H].reshape(H, W)
            assert np.array_equal(y_out[weights == 0], y_in[weights == 0])
            far = cv2.dilate((weights > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
            assert np.array_equal(got[far], base[far])
            # Inside: the spec's RGB blend of the same frame, in luma to the level (a noise face's chroma is
            # averaged over 2x2 pixels by I420 and cannot be compared per pixel).
            face = model.decode_step(renderer.cache.get(i)[2][None], feats.rows(i, i + 1))[0]
            ref = model.blend(base, face, bbox, mask=(box, mask))
            ref_y = cv2.cvtColor(ref, cv2.COLOR_RGB2YUV_I420)[:H]
            inside = weights > 0
            assert inside.sum() > 500 and (y_out[inside] != y_in[inside]).mean() > 0.5
            assert np.abs(y_out[inside].astype(int) - ref_y[inside]).max() <= 1
    finally:
        renderer.close()


def test_each_template_frame_is_encoded_once(model, clip, monkeypatch):
    rgb, yuv, marks = clip
    calls = []
    original = model.latents
    monkeypatch.setattr(model, "latents", lambda crops: calls.append(len(crops)) or original(crops))
    feats = FrameFeatures(model.encoder.embed_positions.weight.new_zeros((150, 5, 384)), 48000, 25, 6, model.pe)
    renderer = MuseTalkRenderer(model, W, H)
    try:
        bases = [0, 1, 2, 2, 1, 0]  # ping-pong
        frames = (yuv[b].copy() for b in bases)
        out = []
        render_stream(renderer, frames, bases, np.stack(marks), np.ones(3, bool), feats, out.append, batch_size=3)
    finally:
        renderer.close()
    assert calls == [3]  # the second pass over the template reuses the first pass's latents and masks
    assert np.array_equal(out[2], out[3])  # same template frame, same audio (silence): the same picture


def all_mouth(x):
    """A parser that calls every pixel "mouth": logits (N, 19, 512, 512)."""
    out = torch.zeros((len(x), 19) + tuple(x.shape[2:]))
    out[:, MOUTH_CLASSES[1]] = 1
    return out


def side_ring(lm):
    """motion.py's ring: the face oval's hull dilated by 15 % of the inter-ocular distance, minus the hull, above
    halfway from the lower lip to the chin."""
    hull = np.zeros((H, W), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm[list(FACE_OVAL)]).astype(np.int32)), 1)
    k = max(3, int(round(0.15 * interocular(lm))) * 2 + 1)
    ring = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool) & ~hull.astype(bool)
    ring[int(round(lm[17, 1] + 0.5 * (lm[152, 1] - lm[17, 1]))):] = False
    return ring


def test_a_parser_that_calls_everything_mouth_cannot_move_the_paste_off_the_lower_face(model, clip, monkeypatch):
    """The official jaw mask is what the parser calls skin and mouth in the lower half of the box. A parser that
    calls every pixel "mouth" (the worst it can err) makes the official blend cover background and neck; the
    renderer's paste stays inside the lower face of our landmarks: nothing changes in lipeval's ghosting ring
    just outside the face oval, above the nose, or on the eyes."""
    _, frames, marks = clip
    yuv, lm = frames[0], marks[0]
    monkeypatch.setattr(model, "parser", all_mouth)
    bbox = face_bbox(lm, W, H)
    feats = FrameFeatures(model.encoder.embed_positions.weight.new_zeros((150, 5, 384)), 48000, 25, 1, model.pe)
    renderer = MuseTalkRenderer(model, W, H)
    try:
        out = []
        render_stream(renderer, iter([yuv.copy()]), [0], lm[None], np.array([True]), feats, out.append)
        noise = model.decode_step(renderer.cache.get(0)[2][None], feats.rows(0, 1))[0]
    finally:
        renderer.close()
    got = cv2.cvtColor(out[0].reshape(H * 3 // 2, W), cv2.COLOR_YUV2RGB_I420).astype(int)
    base = cv2.cvtColor(yuv.reshape(H * 3 // 2, W), cv2.COLOR_YUV2RGB_I420).astype(int)
    official = model.blend(base.astype(np.uint8), noise, bbox).astype(int)  # the spec's blend, unguarded
    ring = side_ring(lm)
    assert ring.sum() > 200
    assert np.abs(official - base)[ring].mean() > 5  # the parser's mask alone reaches the ring...
    assert np.abs(got - base)[ring].mean() < 1.0  # ...the product's paste does not
    above_nose = int(lm[[2, 98, 327], 1].min())  # nostrils and the tip of the nose's underside
    assert np.array_equal(got[:above_nose], base[:above_nose])
    mouth = (slice(int(lm[0, 1]), int(lm[17, 1])), slice(int(lm[61, 0]), int(lm[291, 0])))
    assert np.abs(got - base)[mouth].mean() > 10  # and the mouth itself is painted


def test_the_guard_follows_the_unsmoothed_landmarks_when_given(model, clip):
    """Smoothed landmarks lag a moving head; the guard is drawn from the frame's own (raw) ones when the
    renderer has them, so it moves with the face while the box stays steady."""
    _, frames, marks = clip
    feats = FrameFeatures(model.encoder.embed_positions.weight.new_zeros((150, 5, 384)), 48000, 25, 1, model.pe)
    moved = marks[0].copy()
    moved[:, 0] += 12  # the head has moved right since the smoothed landmarks were taken
    painted = []
    for raw in (None, moved[None]):
        renderer = MuseTalkRenderer(model, W, H, raw=raw)
        try:
            out = []
            render_stream(renderer, iter([frames[0].copy()]), [0], marks[0][None], np.array([True]), feats,
                          out.append)
        finally:
            renderer.close()
        changed = out[0][: W * H].reshape(H, W) != frames[0][: W * H].reshape(H, W)
        painted.append(np.nonzero(changed)[1])
    assert len(painted[0]) > 500 and len(painted[1]) > 500
    assert painted[1].max() > painted[0].max() + 5  # the paste reaches further right with the face
    assert painted[1].min() > painted[0].min() + 5  # and leaves the left edge of the old position
