"""The S3 side of jobs/storage.py: what Django's storage API does badly or not at all on S3.

django-storages opens an object by downloading all of it (into memory up to max_memory_size, then to a
temporary file), even to read a few bytes. Here reads are ranged GETs streamed as they arrive, copies for the
engine are streamed to the worker's disk, browsers fetch media by presigned link, and resumable uploads are
S3 multipart uploads, so any web replica can take the next chunk. Only jobs/storage.py imports this module.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.http import content_disposition_header
from storages.utils import clean_name

CHUNK = 1024 * 1024
# S3's own limits on a multipart upload: every part but the last at least 5 MiB, at most 10,000 parts.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000


class PartsMismatch(Exception):
    """The parts in S3 do not add up to the upload (a lost or doubled part): it cannot be completed."""


def _client():
    return default_storage.connection.meta.client


def _bucket():
    return default_storage.bucket_name


def _key(name):
    # The storage's own mapping (its `location` prefix, and its refusal of names that climb out of it).
    return default_storage._normalize_name(clean_name(name))


# --- Reading -----------------------------------------------------------------------------------

def read_range(name, start, length):
    """Yields `length` bytes of the object from `start`, as one ranged GET read in 1 MB blocks."""
    if length <= 0:
        return
    body = _client().get_object(Bucket=_bucket(), Key=_key(name), Range=f"bytes={start}-{start + length - 1}")["Body"]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def list_names(prefix):
    """The names of every object under `prefix`."""
    location = default_storage.location.strip("/")
    pages = _client().get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=_key(prefix))
    return {item["Key"][len(location) + 1:] if location else item["Key"]
            for page in pages for item in page.get("Contents", [])}


def download(name, target):
    """Streams the object to the local file `target` (ranged GETs in parallel for a large one)."""
    _client().download_file(_bucket(), _key(name), str(target), Config=default_storage.transfer_config)


def presigned_url(name, filename, content_type, inline):
    """A link the browser fetches the object from directly, valid for S3_URL_SECONDS, that answers with
    the given name and type (S3 would otherwise offer the object's key as its name)."""
    return default_storage.url(name, parameters={
        "ResponseContentDisposition": content_disposition_header(not inline, filename),
        "ResponseContentType": content_type}, expire=settings.S3_URL_SECONDS)


def origin():
    """The scheme and host presigned links point at (for the pages' Content-Security-Policy)."""
    parts = urlsplit(default_storage.url("x"))
    return f"{parts.scheme}://{parts.netloc}"


# --- Resumable uploads as multipart uploads -------------------------------------------------------

def start_multipart(name, content_type="application/octet-stream"):
    """Opens a multipart upload that will become the object `name`; returns its upload id."""
    return _client().create_multipart_upload(Bucket=_bucket(), Key=_key(name), ContentType=content_type)["UploadId"]


def upload_part(name, upload_id, number, fileobj, length):
    """Sends part `number` (1-based) of `length` bytes from the open local file `fileobj`."""
    _client().upload_part(Bucket=_bucket(), Key=_key(name), UploadId=upload_id, PartNumber=number, Body=fileobj,
                          ContentLength=length)


def complete_multipart(name, upload_id, parts, size):
    """Joins parts 1..`parts` into the object, after checking S3 holds exactly those and `size` bytes in all.
    Raises PartsMismatch otherwise (then abort it)."""
    pages = _client().get_paginator("list_parts").paginate(Bucket=_bucket(), Key=_key(name), UploadId=upload_id)
    listed = sorted((part["PartNumber"], part["ETag"], part["Size"]) for page in pages for part in page.get("Parts", []))
    if [number for number, _, _ in listed] != list(range(1, parts + 1)) or sum(s for _, _, s in listed) != size:
        raise PartsMismatch(f"{len(listed)} parts of {sum(s for _, _, s in listed)} bytes, expected {parts} of {size}")
    _client().complete_multipart_upload(Bucket=_bucket(), Key=_key(name), UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": number, "ETag": etag} for number, etag, _ in listed]})


def abort_multipart(name, upload_id):
    """Drops a multipart upload and every part it holds (already gone: nothing to do)."""
    client = _client()
    try:
        client.abort_multipart_upload(Bucket=_bucket(), Key=_key(name), UploadId=upload_id)
    except client.exceptions.NoSuchUpload:
        pass


def stale_multiparts(prefix, idle_seconds):
    """(name, upload id) of the multipart uploads under `prefix` started more than `idle_seconds` ago."""
    cutoff = timezone.now() - timedelta(seconds=idle_seconds)
    pages = _client().get_paginator("list_multipart_uploads").paginate(Bucket=_bucket(), Prefix=_key(prefix))
    location = default_storage.location.strip("/")
    return [(upload["Key"][len(location) + 1:] if location else upload["Key"], upload["UploadId"])
            for page in pages for upload in page.get("Uploads", []) if upload["Initiated"] < cutoff]
