"""MuseTalk 1.5's "jaw" blending (spec §6.5): face parsing, the jaw mask, feathering and Pillow's exact paste.

Images are RGB uint8. ``bbox = (x1, y1, x2, y2)`` is the crop box after the v1.5 extra margin; the square
"crop box" around it (``crop_box``) may leave the frame, and parts outside count as black, as a PIL crop does.
The mask depends only on the original frame and the box, so a caller may compute it once per template frame
(``jaw_mask``) and reuse it for every output frame built on that template frame (``composite``).
"""
from __future__ import annotations

import numpy as np

PARSE_SIZE = 512
EXPAND = 1.5
UPPER_BOUNDARY = 0.5
CHEEK_WIDTH = 90  # v1.5 passes 90 / 90 (FaceParsing's own default is 80)
SKIN, NOSE, MOUTH_CLASSES = 1, 10, (11, 12, 13)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _jaw_kernel() -> np.ndarray:
    """33x33: a triangle widening from 1 px (row 10) to 21 px (row 20), then 21-px-wide rows down to row 32.
    Dilating with it grows the skin region downwards (under the chin) far more than upwards."""
    k = np.zeros((33, 33), np.uint8)
    for r in range(10, 21):
        k[r, 16 - (r - 10) : 16 + (r - 10) + 1] = 1
    k[21:, 6:27] = 1
    return k


JAW_KERNEL = _jaw_kernel()


def cheek_columns(size: int = PARSE_SIZE, cheek: int = CHEEK_WIDTH) -> np.ndarray:
    """bool (size,): the columns of the 512x512 parsing where the dilated skin is eroded again (both cheeks;
    the official rectangles are drawn inclusive)."""
    x = np.arange(size)
    return (x <= size // 2 - cheek) | (x >= size // 2 + cheek)


def crop_box(bbox):
    """The square ``(xs, ys, xe, ye)`` around ``bbox`` that is parsed and blended: side 2s with
    s = int(max(w, h) // 2 * 1.5)."""
    x1, y1, x2, y2 = bbox
    xc, yc = (x1 + x2) // 2, (y1 + y2) // 2
    s = int(max(x2 - x1, y2 - y1) // 2 * EXPAND)
    return xc - s, yc - s, xc + s, yc + s


def crop_with_black(frame: np.ndarray, box) -> np.ndarray:
    """``frame[ys:ye, xs:xe]`` with zeros where the box leaves the frame (a PIL crop)."""
    xs, ys, xe, ye = box
    h, w = frame.shape[:2]
    out = np.zeros((ye - ys, xe - xs) + frame.shape[2:], frame.dtype)
    ax, ay, bx, by = max(xs, 0), max(ys, 0), min(xe, w), min(ye, h)
    if bx > ax and by > ay:
        out[ay - ys : by - ys, ax - xs : bx - xs] = frame[ay:by, ax:bx]
    return out


def parser_input(face_large: np.ndarray):
    """BiSeNet input for one square crop: float32 tensor (3, 512, 512), Pillow BILINEAR resize (which filters
    when shrinking), /255, ImageNet normalisation."""
    import torch
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(face_large)).resize((PARSE_SIZE, PARSE_SIZE), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return x.sub(mean).div(std)


def parse(parser, crops, device="cpu") -> np.ndarray:
    """Per-pixel classes of square RGB crops (a list of uint8 (2s, 2s, 3)): int64 (N, 512, 512)."""
    import torch

    x = torch.stack([parser_input(c) for c in crops]).to(device)
    with torch.inference_mode():
        return parser(x).argmax(1).cpu().numpy()


def jaw_region(classes: np.ndarray) -> np.ndarray:
    """The v1.5 "jaw" mask at 512x512 from the classes: uint8 0/255 (skin dilated down over the jaw line and
    eroded again on the cheeks, nose removed, mouth and lips added)."""
    import cv2

    skin = np.where(classes == SKIN, 255, 0).astype(np.uint8)
    dilated = cv2.dilate(skin, JAW_KERNEL, iterations=1)
    eroded = cv2.erode(dilated, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (35, 3)), iterations=2)
    cheeks = cheek_columns(classes.shape[1])[None, :]
    region = np.where(cheeks, eroded, dilated)
    keep = ((region == 255) & (classes != NOSE)) | np.isin(classes, MOUTH_CLASSES)
    return np.where(keep, 255, 0).astype(np.uint8)


def feather_mask(region512: np.ndarray, bbox, box) -> np.ndarray:
    """The blend weights over the crop box: uint8 (2s, 2s), 0..255.

    The 512x512 mask is scaled to the crop box (Pillow BICUBIC), cut to ``bbox`` and to the crop box's lower
    half, then blurred (``cv2.GaussianBlur``, k = int(0.05 * 2s // 2 * 2) + 1, sigma from k).
    """
    import cv2
    from PIL import Image

    xs, ys, xe, ye = box
    x1, y1, x2, y2 = bbox
    side = xe - xs
    mask = np.asarray(Image.fromarray(region512).resize((side, ye - ys), Image.BICUBIC))
    kept = np.zeros_like(mask)
    rows = slice(max(y1 - ys, int((ye - ys) * UPPER_BOUNDARY)), y2 - ys)
    kept[rows, x1 - xs : x2 - xs] = mask[rows, x1 - xs : x2 - xs]
    k = int(0.05 * side // 2 * 2) + 1
    return cv2.GaussianBlur(kept, (k, k), 0)


def paste_face(face_large: np.ndarray, face: np.ndarray, bbox, box) -> np.ndarray:
    """``face_large`` (the crop box, uint8) with ``face`` (uint8 256x256 RGB) resized to ``bbox``
    (``cv2.resize`` INTER_LINEAR) pasted in; a new array."""
    import cv2

    x1, y1, x2, y2 = bbox
    xs, ys = box[0], box[1]
    out = face_large.copy()
    out[y1 - ys : y2 - ys, x1 - xs : x2 - xs] = cv2.resize(np.ascontiguousarray(face), (x2 - x1, y2 - y1),
                                                           interpolation=cv2.INTER_LINEAR)
    return out


def mix(base: np.ndarray, top: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Pillow's masked paste, bit for bit: round((base * (255 - w) + top * w) / 255) per channel, uint8."""
    w = weight.astype(np.uint32)[..., None]
    v = base.astype(np.uint32) * (255 - w) + top.astype(np.uint32) * w + 128
    return (((v >> 8) + v) >> 8).astype(np.uint8)


def composite(frame: np.ndarray, face_large: np.ndarray, mask: np.ndarray, box) -> np.ndarray:
    """``frame`` (uint8 (H, W, 3)) with ``face_large`` mixed in at ``box`` by ``mask``; parts of the box outside
    the frame are dropped. A new array; pixels where the mask is 0 keep their exact values."""
    xs, ys, xe, ye = box
    h, w = frame.shape[:2]
    out = frame.copy()
    ax, ay, bx, by = max(xs, 0), max(ys, 0), min(xe, w), min(ye, h)
    if bx > ax and by > ay:
        sl = (slice(ay - ys, by - ys), slice(ax - xs, bx - xs))
        out[ay:by, ax:bx] = mix(frame[ay:by, ax:bx], face_large[sl], mask[sl])
    return out
