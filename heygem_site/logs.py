"""Structured logs: one JSON object per line, with job and result ids when a record has them."""

import json
import logging
import os
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path

# Extra fields a record may carry (logger.info(..., extra={"job": 3, "result": 7})).
FIELDS = ("job", "result", "team", "user", "code", "removed")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": os.environ.get("HEYGEM_PROCESS", "app"),
            "message": record.getMessage(),
        }
        for field in FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class SizeCappedFile(RotatingFileHandler):
    """A rotating file, one per process (rotation is not safe across processes), whose folder is
    created on the first write rather than when settings are imported."""

    def __init__(self, directory, max_bytes, backups):
        name = f"heygem-{os.environ.get('HEYGEM_PROCESS', 'app')}.log"
        super().__init__(Path(directory) / name, maxBytes=max_bytes, backupCount=backups, delay=True,
                         encoding="utf-8")

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()
