"""Where media lives: every difference between local disk and S3 is in this module.

The rest of the jobs app stores, reads, serves and deletes files through these functions and never
asks which storage is configured. Local storage moves a finished file into place instead of copying
it, and nginx can send it itself (X-Accel-Redirect); remote storage is read through Django's storage
API, which streams.
"""

import shutil
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

CHUNK = 1024 * 1024


class LocalFile(File):
    """A file on local disk that FileSystemStorage may move into place instead of copying."""

    def temporary_file_path(self):
        return self.name


def is_local():
    """Whether media are files under MEDIA_ROOT on this host."""
    return hasattr(default_storage, "path") and settings.STORAGE_BACKEND == "local"


# --- Storing -----------------------------------------------------------------------------------

def save_to_field(field, name, path):
    """Stores the local file at `path` as `field`'s file (named by the field's upload_to and `name`)."""
    with LocalFile(open(path, "rb"), name=str(path)) as content:
        field.save(name, content, save=False)


def save(name, path):
    """Stores the local file at `path` under `name`; returns the name it got (unique in storage)."""
    with LocalFile(open(path, "rb"), name=str(path)) as content:
        return default_storage.save(name, content)


def size(name):
    return default_storage.size(name)


def delete(*names):
    """Deletes stored files by name; empty names are skipped."""
    for name in names:
        if name:
            default_storage.delete(name)


# --- Reading -----------------------------------------------------------------------------------

def open_for_reading(field):
    return field.open("rb")


def local_copy(field, directory):
    """A local path of a stored file for the engine: the file itself on local storage, else a copy in
    `directory` (the worker's own temporary folder)."""
    try:
        return Path(field.path)
    except NotImplementedError:
        target = Path(directory) / Path(field.name).name
        with open_for_reading(field) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, CHUNK)
        return target


# --- Serving -----------------------------------------------------------------------------------

def x_accel_path(field):
    """The path of nginx's `internal` media location that serves `field`, or None when Django must
    stream it (not behind nginx, or not a local file)."""
    if settings.MEDIA_X_ACCEL and isinstance(field.storage, FileSystemStorage):
        return settings.MEDIA_X_ACCEL_PREFIX + quote(field.name)
    return None


def presigned_url(field, filename, *, inline):
    """A short-lived URL the browser may fetch `field` from directly, or None when storage has none
    (local files)."""
    return None


# --- Space and drift ---------------------------------------------------------------------------

def free_space():
    """(free, total) bytes of the volume holding local media, or None for remote storage."""
    if not is_local():
        return None
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(root)
    return usage.free, usage.total


def stored_names(prefix="teams"):
    """The names of every stored file under `prefix`, for drift checks. Local storage only: S3 keeps its
    own inventory."""
    if not is_local():
        raise RuntimeError("Drift checks need local storage; S3 keeps its own inventory.")
    root = Path(settings.MEDIA_ROOT)
    folder = root / prefix
    if not folder.exists():
        return set()
    return {str(path.relative_to(root)) for path in folder.rglob("*") if path.is_file()}
