"""Streaming stored files and ZIPs of results without holding them in memory.

Under ASGI, Django reads a synchronous streaming iterator to the end into a list before sending
it, so a 2 GB video would sit in memory: responses here hand ASGI an async iterator instead.
"""

import re
from zipfile import ZIP_STORED

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header
from zipstream import ZipStream

from jobs import storage

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def _for_handler(request, iterator):
    # DRF hands views its own Request wrapping Django's; the handler type is on the inner one.
    if not isinstance(getattr(request, "_request", request), ASGIRequest):
        return iterator

    async def pull():
        source = iter(iterator)
        end = object()
        while (chunk := await sync_to_async(next, thread_sensitive=False)(source, end)) is not end:
            yield chunk
    return pull()


def stream_file(request, field, filename, content_type, *, inline=True):
    """Serves a stored file, honouring a single-range `Range` header (video players seek with it)."""
    if accel := storage.x_accel_path(field):
        return _accel_redirect(accel, filename, content_type, inline)
    if url := storage.presigned_url(field, safe_filename(filename), content_type, inline=inline):
        return HttpResponseRedirect(url)
    size = field.size
    start, end, status = 0, size - 1, 200
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and size:
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        elif last:
            start = max(0, size - int(last))
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        status = 206
    length = end - start + 1 if size else 0
    response = StreamingHttpResponse(_for_handler(request, storage.read_range(field, start, length)), status=status,
                                     content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Disposition"] = content_disposition_header(not inline, safe_filename(filename))
    return response


def safe_filename(name, default="download"):
    """A file name to offer in Content-Disposition: no folders, no control or reserved characters, no
    leading dots, any script kept (`../../etc/passwd.mp4` becomes `passwd.mp4`)."""
    name = re.split(r"[/\\]", str(name))[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" ._")[:150]
    return name or default


def _accel_redirect(path, filename, content_type, inline):
    """An empty answer that nginx replaces with the file from its `internal` media location.

    nginx keeps this Content-Type and Content-Disposition and handles Range itself.
    """
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = path
    response["Content-Disposition"] = content_disposition_header(not inline, safe_filename(filename))
    return response


def zip_entry_name(original_name, result_id, suffix=".mp4"):
    """The sanitized original name plus the result id: any script kept, no path, unique per result."""
    stem = original_name.rsplit(".", 1)[0] if "." in original_name else original_name
    stem = _UNSAFE_NAME.sub("_", stem).strip(" ._")[:100] or "video"
    return f"{stem}-{result_id}{suffix}"


def zip_response(request, results, filename):
    """A ZIP of the results' outputs, stored without recompression, built while it is sent."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    for result in results:
        name = zip_entry_name(result.video.original_name, result.pk)
        archive.add(storage.read_range(result.output, 0, result.output_size), arcname=name, size=result.output_size)
    response = StreamingHttpResponse(_for_handler(request, iter(archive)), content_type="application/zip")
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
