"""The operator's secret, from the environment only (never from a policy or config file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError
from .strategies import Secrets

SECRET_ENV = "RETENTION_SECRET"
SECRET_FILE_ENV = "RETENTION_SECRET_FILE"
MIN_SECRET_BYTES = 32


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """Derive the pseudonym and audit keys; refuse a missing or short secret (exit 3)."""
    env = os.environ if env is None else env
    secret: bytes | None = None
    source = SECRET_ENV
    if env.get(SECRET_FILE_ENV):
        path = Path(env[SECRET_FILE_ENV])
        source = f"the secret in {SECRET_FILE_ENV} ({path})"
        try:
            secret = path.read_bytes().rstrip(b"\r\n")
        except OSError as err:
            raise ConfigError(f"{SECRET_FILE_ENV}: cannot read {path}: {err.strerror}") from None
        if not secret:
            raise ConfigError(f"{SECRET_FILE_ENV}: {path} is empty; put a secret of at least "
                              f"{MIN_SECRET_BYTES} bytes in it (e.g. openssl rand -hex 32)")
    elif env.get(SECRET_ENV):
        secret = env[SECRET_ENV].encode()
    if not secret:
        raise ConfigError(
            f"{SECRET_ENV} is not set: a run needs a secret of at least {MIN_SECRET_BYTES} bytes "
            f"for pseudonyms and audit key hashes (e.g. export {SECRET_ENV}=$(openssl rand -hex "
            f"32), or point {SECRET_FILE_ENV} at a file)"
        )
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{source} is {len(secret)} bytes long; at least "
                          f"{MIN_SECRET_BYTES} are required")
    return Secrets.from_secret(secret)
