"""Masking personal data: a keyed HMAC-SHA256, computed with native Spark functions.

The key comes from the ``TRADELAKE_PII_KEY`` environment variable or from AWS Secrets
Manager (``TRADELAKE_PII_KEY_SECRET_ID``), never from a configuration file. The mask is
deterministic, so masked columns still join across tables and days.
"""

from __future__ import annotations

import hashlib
import os

from pyspark.sql import Column
from pyspark.sql import functions as F

from tradelake import aws
from tradelake.config import Settings
from tradelake.errors import ConfigError

KEY_VARIABLE = "TRADELAKE_PII_KEY"
_BLOCK_SIZE = 64  # SHA-256 block size in bytes (RFC 2104)


def load_key(settings: Settings) -> bytes | None:
    """The masking key, or None when none is configured.

    Raises:
        ConfigError: the secret cannot be read, or the key is empty.
    """
    value = os.environ.get(KEY_VARIABLE)
    if value is None and settings.pii_key_secret_id:
        value = aws.secret_string(
            settings, settings.pii_key_secret_id, "TRADELAKE_PII_KEY_SECRET_ID"
        )
    if value is None:
        return None
    if not value:
        raise ConfigError(f"{KEY_VARIABLE} is empty; set a non-empty secret key")
    return value.encode("utf-8")


def _padded_keys(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer HMAC keys (K' xor ipad, K' xor opad), computed once."""
    if len(key) > _BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256_hex(value: Column, key: bytes) -> Column:
    """HMAC-SHA256 of the UTF-8 text as 64 lower-case hex digits; null stays null.

    Spark has no HMAC function; RFC 2104 is two SHA-256 passes over key pads
    (``sha2`` on binary), so no Python runs per row.
    """
    inner_key, outer_key = _padded_keys(key)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_key), F.encode(value, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(outer_key), inner), 256)
