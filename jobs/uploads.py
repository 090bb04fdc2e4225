"""Resumable uploads: open one (reserving its size), append chunks in order, complete it into an asset.

The protocol the API speaks (jobs/api.py): POST opens an upload, each PUT carries the next chunk with
`Content-Range: bytes START-END/TOTAL`, GET tells how many bytes arrived (a client resumes from there),
POST complete/ validates the bytes by content and turns them into an Asset, DELETE abandons it. The
bytes wait in a part file until completed; an upload idle for UPLOAD_EXPIRY_SECONDS expires.

On S3 each chunk is one part of a multipart upload (jobs/storage.py), sent whole or not at all, so any web
replica can take the next chunk; S3 wants every part but the last to be at least 5 MiB. Completing joins the
parts into the object that becomes the asset's file, after a streamed local copy has been checked.
"""

import fcntl
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Quota
from jobs import services, storage
from jobs.errors import Refused
from jobs.models import Upload, asset_path

BLOCK = 1024 * 1024


class OffsetConflict(Exception):
    """The chunk does not start where the upload stands, or another chunk of it is being written now."""


def start_upload(team, owner, name, size):
    """Opens a resumable upload of `size` bytes, reserving them against the team's quota and the free disk.

    A person has at most MAX_OPEN_UPLOADS open at once; each expires when idle (services.open_uploads).
    Raises Refused.
    """
    if size == 0:
        raise Refused("empty_file")
    if size > settings.MAX_UPLOAD_BYTES:
        raise Refused("file_too_large", limit_bytes=settings.MAX_UPLOAD_BYTES)
    services.refuse_when_low_on_disk(also_needed=size)
    with transaction.atomic():
        quota = Quota.objects.select_for_update().get(team=team)
        if services.open_uploads().filter(owner=owner).count() >= settings.MAX_OPEN_UPLOADS:
            raise Refused("too_many_uploads", count=settings.MAX_OPEN_UPLOADS)
        if services.storage_used(team.pk) + size > quota.storage_bytes:
            raise Refused("quota_storage")
        upload = Upload.objects.create(team=team, owner=owner, original_name=name[:255], size=size)
    if storage.starts_multipart():
        stored_name = asset_path(upload, "upload" + services.safe_suffix(name))
        try:
            multipart_id = storage.start_parts(stored_name)
        except Exception:
            upload.delete()  # Storage is away: no reservation without somewhere to put the bytes.
            raise
        Upload.objects.filter(pk=upload.pk).update(stored_name=stored_name, multipart_id=multipart_id)
        upload.stored_name, upload.multipart_id = stored_name, multipart_id
        return upload
    upload.part_path().parent.mkdir(parents=True, exist_ok=True)
    upload.part_path().touch()
    return upload


def append_chunk(upload, start, stream, length=None):
    """Writes the bytes of `stream` (a file-like object, or None for none) at offset `start`, up to the
    declared size; `length`: the chunk's size from its Content-Range (None: the rest of the file). Returns
    how many bytes have arrived in all. Raises OffsetConflict, Refused (low disk, a part S3 would refuse)."""
    if upload.multipart_id:
        return _append_part(upload, start, stream, length)
    services.refuse_when_low_on_disk()  # Before any byte is written.
    with open(upload.part_path(), "r+b") as part:
        # One writer per upload at a time: a lock on the part file, not a database transaction held
        # open while megabytes go to disk. A second PUT of the same upload is told to retry.
        try:
            fcntl.flock(part, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OffsetConflict() from None
        upload.refresh_from_db()
        if start != upload.received:
            raise OffsetConflict()
        received = upload.received
        part.truncate(received)  # Drop the tail of a chunk that broke off half-way.
        part.seek(received)
        while received < upload.size and (block := stream.read(BLOCK) if stream else b""):
            part.write(block[: upload.size - received])
            received += min(len(block), upload.size - received)
        part.flush()
        Upload.objects.filter(pk=upload.pk, received=upload.received).update(received=received,
                                                                             updated_at=timezone.now())
    upload.received = received
    return received


def _append_part(upload, start, stream, length):
    """The chunk becomes the upload's next part in S3, whole or not at all: one that breaks off half-way
    keeps nothing, and the client resumes from `received`. It waits in a temporary file meanwhile (S3 must be
    told a part's length before its bytes, and a broken request must not leave half a part)."""
    upload.refresh_from_db()
    if start != upload.received:
        raise OffsetConflict()
    remaining = upload.size - upload.received
    length = remaining if length is None else length
    if not 0 < length <= remaining:
        raise Refused("upload_range")
    if length > settings.UPLOAD_PART_MAX_BYTES:
        raise Refused("upload_part_large", limit_bytes=settings.UPLOAD_PART_MAX_BYTES)
    if length < storage.PART_MIN_BYTES and length != remaining:
        raise Refused("upload_part_small", limit_bytes=storage.PART_MIN_BYTES)
    number = upload.parts + 1
    if number > storage.MAX_PARTS:
        raise Refused("upload_part_small", limit_bytes=upload.size // storage.MAX_PARTS + 1)
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        copied = 0
        while copied < length and (block := stream.read(min(BLOCK, length - copied)) if stream else b""):
            spool.write(block)
            copied += len(block)
        if copied != length:
            return upload.received  # It broke off: nothing kept.
        spool.seek(0)
        storage.put_part(upload.stored_name, upload.multipart_id, number, spool, length)
    # Conditional: a second request that sent the same chunk at once is told where the upload stands.
    if not Upload.objects.filter(pk=upload.pk, received=start, parts=number - 1).update(
            received=start + length, parts=number, updated_at=timezone.now()):
        raise OffsetConflict()
    upload.received, upload.parts = start + length, number
    return upload.received


def complete_upload(upload, user, kind=None):
    """Validates the uploaded bytes by content and turns them into an asset; the upload ends either way
    (refused, nothing is kept). Raises Refused."""
    if upload.received != upload.size:
        raise Refused("upload_incomplete")
    if upload.multipart_id:
        return _complete_parts(upload, user, kind)
    part = upload.part_path()
    try:
        return services.ingest_file(upload.team, user, part, upload.original_name, kind, reserved=upload.size)
    finally:
        part.unlink(missing_ok=True)
        upload.delete()


def _complete_parts(upload, user, kind):
    """Joins the parts into the stored file, checks a streamed local copy, and makes the stored file the
    asset's (no second upload). Refused, a duplicate of an asset the person has, or parts that do not add
    up: the stored file goes, and the upload ends either way."""
    name = upload.stored_name
    try:
        if not storage.finish_parts(name, upload.multipart_id, upload.parts, upload.size):
            raise Refused("upload_damaged")
        folder = Path(tempfile.mkdtemp(prefix="heygem-upload-", dir=settings.FILE_UPLOAD_TEMP_DIR))
        try:
            copy = folder / f"upload{services.safe_suffix(name)}"
            storage.download(name, copy)
            asset = services.ingest_file(upload.team, user, copy, upload.original_name, kind, reserved=upload.size,
                                         stored_name=name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    except Exception:
        storage.abort_parts(name, upload.multipart_id)
        storage.delete(name)
        upload.delete()
        raise
    if asset.file.name != name:
        storage.delete(name)  # The person had these bytes already: their asset is kept, this copy goes.
    upload.delete()
    return asset


def abandon_upload(upload):
    storage.abort_parts(upload.stored_name, upload.multipart_id)
    upload.part_path().unlink(missing_ok=True)
    upload.delete()


def purge_expired_uploads():
    """Removes the uploads idle for UPLOAD_EXPIRY_SECONDS, rows and part files. Returns how many."""
    count = 0
    expired = timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS)
    for upload in Upload.objects.filter(updated_at__lt=expired):
        if Upload.objects.filter(pk=upload.pk).delete()[0]:
            storage.abort_parts(upload.stored_name, upload.multipart_id)
            upload.part_path().unlink(missing_ok=True)
            count += 1
    # Multipart uploads no row knows of (a web replica died between opening one and saving its row, or
    # the row went without its abort) would hold their parts forever: S3 bills them but never lists them.
    known = set(Upload.objects.exclude(multipart_id="").values_list("multipart_id", flat=True))
    for name, multipart_id in storage.stale_parts("teams/", settings.UPLOAD_EXPIRY_SECONDS):
        if multipart_id not in known:
            storage.abort_parts(name, multipart_id)
            count += 1
    return count


def content_range_start(header):
    """The first byte a chunk's `Content-Range: bytes START-END/TOTAL` names; 0 when there is none (a
    single-chunk upload), -1 when it cannot be read (answered as an offset conflict)."""
    try:
        unit, spec = header.split(" ", 1)
        return int(spec.split("-", 1)[0]) if unit == "bytes" else -1
    except ValueError:
        return 0 if not header else -1


def content_range_length(header):
    """How many bytes a chunk's `Content-Range: bytes START-END/TOTAL` announces; None when there is no
    header or it cannot be read (content_range_start answers for that). Raises Refused for a range that ends
    before it starts or names a number no file can reach (past 2**63)."""
    try:
        unit, spec = header.split(" ", 1)
        first, last = (int(number) for number in spec.split("/", 1)[0].split("-", 1))
    except ValueError:
        return None
    if unit != "bytes" or not 0 <= first <= last < 2**63:
        raise Refused("upload_range")
    return last - first + 1
