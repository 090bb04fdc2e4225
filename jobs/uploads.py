"""Resumable uploads: open one (reserving its size), append chunks in order, complete it into an asset.

The protocol the API speaks (jobs/api.py): POST opens an upload, each PUT carries the next chunk with
`Content-Range: bytes START-END/TOTAL`, GET tells how many bytes arrived (a client resumes from there),
POST complete/ validates the bytes by content and turns them into an Asset, DELETE abandons it. The
bytes wait in a part file until completed; an upload idle for UPLOAD_EXPIRY_SECONDS expires.
"""

import fcntl
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Quota
from jobs import services
from jobs.errors import Refused
from jobs.models import Upload

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
    upload.part_path().parent.mkdir(parents=True, exist_ok=True)
    upload.part_path().touch()
    return upload


def append_chunk(upload, start, stream):
    """Writes the bytes of `stream` (a file-like object, or None for none) at offset `start`, up to the
    declared size. Returns how many bytes have arrived in all. Raises OffsetConflict, Refused (low disk)."""
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


def complete_upload(upload, user, kind=None):
    """Validates the uploaded bytes by content and turns them into an asset; the upload ends either way
    (refused, nothing is kept). Raises Refused."""
    if upload.received != upload.size:
        raise Refused("upload_incomplete")
    part = upload.part_path()
    try:
        return services.ingest_file(upload.team, user, part, upload.original_name, kind, reserved=upload.size)
    finally:
        part.unlink(missing_ok=True)
        upload.delete()


def abandon_upload(upload):
    upload.part_path().unlink(missing_ok=True)
    upload.delete()


def purge_expired_uploads():
    """Removes the uploads idle for UPLOAD_EXPIRY_SECONDS, rows and part files. Returns how many."""
    count = 0
    expired = timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS)
    for upload in Upload.objects.filter(updated_at__lt=expired):
        if Upload.objects.filter(pk=upload.pk).delete()[0]:
            upload.part_path().unlink(missing_ok=True)
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
