"""SHA-256 of files, read in chunks: what checkpoints, pretrained weights and corpus provenance are named by.

Its own module so that ``core.models`` (pretrained weights) and ``core.checkpoint`` (which builds models) both
use it without importing each other.
"""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
