"""Pasting a lower face from another frame: the mouth comes over, hair beside the jaw does not."""
import cv2
import numpy as np
import pytest

from inference.composite import Compositor
from inference.face import EYE_CORNERS, MOUTH_CORNERS

SKIN, LIPS, HAIR = (200, 150, 130), (150, 40, 50), (40, 30, 20)


def i420(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def rgb(yuv):
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


@pytest.mark.parametrize("spare_sides", [True, False])
def test_a_paste_from_another_frame_keeps_the_mouth_and_leaves_hair_beside_the_jaw_out(spare_sides):
    frame = i420(np.full((200, 200, 3), SKIN, np.uint8))
    lm = np.zeros((478, 2), np.float32)
    lm[list(EYE_CORNERS)] = [(60, 60), (140, 60)]
    lm[list(MOUTH_CORNERS)] = [(80, 130), (120, 130)]  # mouth centre (100, 130), half-width 20
    box = (40, 100, 120, 60)
    patch = np.full((60, 120, 3), SKIN, np.uint8)
    patch[20:40, 45:75] = LIPS  # the source frame's mouth, at the centre
    patch[:, :16] = HAIR  # its hair, 45-60 px (over two mouth widths) to the side
    Compositor(200, 200).paste(frame, lm, patch, box, np.ones((60, 120), np.float32), spare_sides=spare_sides)
    out = rgb(frame).astype(int)
    assert np.abs(out[130, 100] - LIPS).max() <= 6  # the mouth always comes over
    assert np.abs(out[10, 10] - SKIN).max() <= 6  # outside the box nothing changes
    hair_shown = bool(np.abs(out[130, 45] - HAIR).max() <= 6)
    assert hair_shown is (not spare_sides)
