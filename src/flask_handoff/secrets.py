"""Secrets handed to a job (an upstream cookie, a token): encrypted wherever they rest.

They are stored as one Fernet token (AES-128-CBC + HMAC-SHA256) with a key derived from the
app's ``SECRET_KEY`` by HKDF, so the job table and the broker never hold them in the clear,
and a change of ``SECRET_KEY`` makes old ones unreadable rather than wrong.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import JobArgumentError, SecretsError

if TYPE_CHECKING:
    from collections.abc import Mapping

_INFO = b"flask-handoff job secrets v1"


class SecretBox:
    """Encrypts and decrypts the secrets of jobs for one application."""

    def __init__(self, secret_key: str | bytes | None) -> None:
        self._fernet: Fernet | None = None
        if secret_key:
            raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw)
            self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise SecretsError(
                "Job secrets need the app's SECRET_KEY to encrypt them, and it is not set."
                " Set SECRET_KEY (the same value in every web and worker process)."
            )
        return self._fernet

    def seal(self, values: Mapping[str, str]) -> str:
        for name, value in values.items():
            if not isinstance(value, str):
                raise JobArgumentError(
                    f"Secret {name!r} is a {type(value).__name__}; secrets must be strings."
                )
        return self._require().encrypt(json.dumps(dict(values)).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._require().decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsError(
                "The job's secrets cannot be decrypted: the SECRET_KEY of this worker differs"
                " from the one of the process that submitted the job. Use one SECRET_KEY"
                " everywhere."
            ) from exc
        return data
