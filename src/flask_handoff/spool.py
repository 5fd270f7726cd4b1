"""Uploaded files handed to a job: saved before ``submit`` returns, removed when it ends.

Werkzeug closes a request's uploads once the response is sent, so a job that keeps the
``FileStorage`` reads a closed file. The spool copies the bytes to disk under the job's id
while the request is alive and keeps no file descriptor open.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import FileStorage

from .context import SpooledFile
from .errors import JobArgumentError

if TYPE_CHECKING:
    from collections.abc import Mapping

_COPY_BUFFER = 1024 * 1024


class Spool:
    """One folder per job under ``HANDOFF_SPOOL_DIR``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def save(self, job_id: str, files: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Save each upload; returns the JSON-safe description stored with the job."""
        saved: dict[str, dict[str, Any]] = {}
        folder = self.job_dir(job_id)
        try:
            for key, upload in files.items():
                if not key.isidentifier():
                    raise JobArgumentError(
                        f"File key {key!r} is not a valid argument name: the task receives"
                        " each file as a keyword argument of that name."
                    )
                folder.mkdir(parents=True, exist_ok=True)
                saved[key] = self._save_one(folder, key, upload)
        except BaseException:
            self.remove(job_id)
            raise
        return saved

    def _save_one(self, folder: Path, key: str, upload: Any) -> dict[str, Any]:
        if isinstance(upload, FileStorage):
            filename = upload.filename
            content_type = upload.content_type
            target = folder / (key + _suffix(filename))
            with target.open("wb") as out:
                shutil.copyfileobj(upload.stream, out, _COPY_BUFFER)
        elif isinstance(upload, (str, Path)):
            source = Path(upload)
            if not source.is_file():
                raise JobArgumentError(f"File {key!r}: {source} does not exist or is not a file.")
            filename, content_type = source.name, None
            target = folder / (key + _suffix(filename))
            shutil.copyfile(source, target)
        else:
            raise JobArgumentError(
                f"File {key!r} is a {type(upload).__name__}; pass a werkzeug FileStorage"
                " (request.files[...]) or a path."
            )
        return {"path": str(target), "filename": filename, "content_type": content_type}

    def load(self, described: Mapping[str, Mapping[str, Any]]) -> dict[str, SpooledFile]:
        return {
            key: SpooledFile(Path(d["path"]), d.get("filename"), d.get("content_type"))
            for key, d in described.items()
        }

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


def _suffix(filename: str | None) -> str:
    """Keep the extension (readers sniff by it) but never the user's path or name.

    Taken from the name as sent: ``secure_filename`` drops non-ASCII letters, and with
    them the dot of a name such as "订单.xlsx".
    """
    suffix = Path((filename or "").replace("\\", "/")).suffix.lower()
    return suffix if _SAFE_SUFFIX.fullmatch(suffix) else ""


_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,15}")
