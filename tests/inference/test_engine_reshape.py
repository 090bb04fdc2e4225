"""The retrieval reshape moves the lower lip by the opening asked for, and leaves the rows above the nose alone."""
import numpy as np
import pytest

from inference.backends.retrieval.render import MouthRenderer, lip_midlines


def _face():
    """Landmarks (478, 2) of a synthetic face 100 px between the eyes: mouth 80 px wide centred on x=100,
    inner lips 10 px apart (upper at y=100, lower at y=110), nose at y=70, chin at y=170."""
    lm = np.tile(np.array([100.0, 120.0], np.float32), (478, 1))
    lm[33], lm[263] = (50, 20), (150, 20)  # eye corners
    lm[61], lm[291] = (60, 105), (140, 105)  # mouth corners
    lm[2], lm[0], lm[152] = (100, 70), (100, 90), (100, 170)  # under the nose, upper lip, chin
    for upper, lower, x in ((82, 87, 90), (13, 14, 100), (312, 317, 110)):
        lm[upper], lm[lower] = (x, 100), (x, 110)
    return lm


def _lower_lip_edge(column: np.ndarray) -> float:
    """Sub-pixel row where a dark-above, bright-below column crosses half way."""
    k = int(np.nonzero(column >= 100)[0][0])
    return k - 1 + (100 - column[k - 1]) / (column[k] - column[k - 1])


@pytest.mark.parametrize("delta", [6.0, -4.0, 2.5])
def test_the_lower_lip_moves_by_the_change_of_opening(delta):
    lm = _face()
    h, w = 240, 200
    patch = np.zeros((h, w, 3), np.uint8)
    patch[110:] = 200  # the lower lip's top edge on every column, dark gap above
    renderer = MouthRenderer(w, h, "cpu", None, lm[None], np.ones(1, bool))
    gap = 10.0
    out = renderer.reshape(patch, (0, 0, w, h), lm, lm, target=(gap + delta) / 100.0)
    assert out.dtype == np.float32 and out.shape == patch.shape
    # In the middle of the lips the whole change of opening applies: the edge sits delta lower.
    assert abs(_lower_lip_edge(out[:, 100, 0]) - (109.5 + delta)) < 1.0
    # Towards the corners less of it does, never more.
    assert abs(_lower_lip_edge(out[:, 130, 0]) - 109.5) < abs(delta)
    # Above the nose nothing moves.
    assert np.array_equal(out[:70], patch[:70].astype(np.float32))


def test_a_patch_already_at_the_target_comes_back_unchanged():
    lm = _face()
    patch = np.random.default_rng(0).integers(0, 256, (240, 200, 3), dtype=np.uint8)
    renderer = MouthRenderer(200, 240, "cpu", None, lm[None], np.ones(1, bool))
    out = renderer.reshape(patch, (0, 0, 200, 240), lm, lm, target=0.1)
    assert np.array_equal(out, patch.astype(np.float32))


def test_a_cut_cross_fades_except_where_the_lips_are_planned_shut():
    from inference.backends.retrieval.render import crossfades

    sources = np.array([10, 11, 12, 40, 41, 42, 43, 44])  # a cut at frame 3
    other, weight = crossfades(sources)
    assert (other[3:6] == [13, 14, 15]).all() and (weight[3:6] > 0).all() and other[6] == -1
    shut = np.zeros(len(sources), bool)
    shut[3:5] = True  # a P B M at the cut: one sealed mouth, not two blended into a double lip line
    other, weight = crossfades(sources, shut=shut)
    assert (other[3:5] == -1).all() and (weight[3:5] == 0).all()
    assert other[5] == 15 and weight[5] > 0  # the fade goes on once the lips part


def test_a_source_mouth_off_to_one_side_is_moved_across_onto_the_base_frames_mouth():
    # A turned head's mouth moves sideways against its eyes and nose, which the fit cannot follow: the source's
    # upper lip sits 6 px right of the base frame's (lip_midlines says so: -6 px across).
    base = _face()
    source = base.copy()
    source[[0, 37, 267, 13, 14, 61, 291, 82, 87, 312, 317, 152], 0] += 6.0  # the same face, its mouth 6 px to the right
    h, w = 240, 200
    patch = np.full((h, w, 3), 200, np.uint8)
    patch[:, :106] = 20  # a vertical edge at x=106: the source's mouth centre plus its offset
    renderer = MouthRenderer(w, h, "cpu", None, source[None], np.ones(1, bool))
    out = renderer.reshape(patch, (0, 0, w, h), base, source, target=0.1, across=-6.0)

    def edge(row):
        k = int(np.nonzero(out[row, :, 0] >= 110)[0][0])
        return k - 1 + (110 - out[row, k - 1, 0]) / (out[row, k, 0] - out[row, k - 1, 0])

    # At the lips the edge moved back onto the base's mouth centre line (x=100), and so did the whole mouth.
    assert abs(edge(100) - 99.5) < 0.75 and abs(edge(120) - 99.5) < 1.0
    # Above the nose nothing moves.
    assert np.array_equal(out[:70], patch[:70].astype(np.float32))


def test_the_lips_sideways_offset_follows_a_turning_head_and_its_average_drops_the_landmarks_noise():
    # 40 frames of a face whose eyes and nose stay put while its upper lip drifts 0.1 interocular distances to
    # the right (a head turning), each frame's lip landmarks off by up to 1.5 px of noise.
    rng = np.random.default_rng(0)
    raw = np.repeat(_face()[None], 40, 0)
    drift = np.linspace(0.0, 10.0, 40)
    raw[:, [0, 37, 267], 0] += (drift + rng.uniform(-1.5, 1.5, 40))[:, None]
    valid = np.ones(40, bool)
    valid[20] = False  # a frame with no face
    measured, mean = lip_midlines(raw, valid)
    assert np.isnan(measured[20]) and np.isnan(mean[20])
    inner = np.r_[3:18, 23:37]  # away from the ends, where the average holds fewer frames
    # In interocular distances (100 px here), relative to a frame in the middle: each frame's own offset...
    np.testing.assert_allclose((measured - measured[21])[inner], (raw[:, 0, 0] - raw[21, 0, 0])[inner] / 100.0,
                               atol=1e-3)
    # ...and the drift with the noise averaged out.
    assert np.abs((mean - mean[21])[inner] - (drift - drift[21])[inner] / 100.0).max() < 0.012
    assert np.std(np.diff(mean[inner])) < 0.5 * np.std(np.diff(measured[inner]))
