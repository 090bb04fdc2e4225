"""Small media chores of the web side: a poster image for a finished video."""

import av
from PIL import Image

THUMBNAIL_WIDTH = 480


def make_thumbnail(video_path, image_path, at_seconds=1.0):
    """Writes a JPEG of the frame at `at_seconds` (or the first frame of a shorter video).

    Returns `image_path`, or None when the video has no decodable frame.
    """
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            at_seconds = min(at_seconds, float(stream.duration * stream.time_base) / 2)
        if at_seconds > 0:
            container.seek(int(at_seconds / stream.time_base), stream=stream, any_frame=False, backward=True)
        for frame in container.decode(stream):
            image = frame.to_image()
            break
        else:
            return None
    height = round(image.height * THUMBNAIL_WIDTH / image.width)
    image.resize((THUMBNAIL_WIDTH, max(1, height)), Image.LANCZOS).save(image_path, "JPEG", quality=85)
    return image_path
