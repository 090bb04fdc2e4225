"""The MuseTalk paste stays on the lower face whatever the face parser says.

The official jaw mask is what the parser calls skin and mouth in the lower half of the box. Here the parser
calls every pixel "mouth" (the worst a parser can err): the official blend then covers the whole lower half of
the box, background and neck included, while the renderer's paste stays inside the lower face of our own
landmarks: nothing changes in a ring just outside the face oval (the sides, where ../shared/lipeval's ghosting
measure looks), above the nose, or on the eyes.
"""
import cv2
import numpy as np
import pytest
import torch

from inference.backends.musetalk import MuseTalk
from inference.backends.musetalk.audio import FrameFeatures
from inference.backends.musetalk.blend import MOUTH_CLASSES
from inference.backends.musetalk.render import MuseTalkRenderer, face_bbox, render_stream
from inference.face import FACE_OVAL, FaceTracker, interocular

W = H = 320


@pytest.fixture(scope="module")
def model(musetalk_models):
    return MuseTalk.load(musetalk_models)


@pytest.fixture(scope="module")
def face(mk):
    rgb = mk.read_rgb(mk.media("man_map_844sq_25fps.mp4"), 1, W, start=20)[0]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    tracker = FaceTracker(25.0)
    try:
        found = tracker.track(yuv, W, H)
    finally:
        tracker.close()
    assert found is not None
    return rgb, yuv, found[1]


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


def test_a_parser_that_calls_everything_mouth_cannot_move_the_paste_off_the_lower_face(model, face, monkeypatch):
    rgb, yuv, lm = face
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
