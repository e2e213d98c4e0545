# SPDX-License-Identifier: BSD-3-Clause
"""Plain data the API returns."""
from __future__ import annotations

import enum
import stat as _stat
from dataclasses import dataclass


class FileEntryType(str, enum.Enum):
    """Kind of a volume entry (compares equal to its string value)."""
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"          # FIFO, socket, device

    @classmethod
    def from_mode(cls, mode: int) -> "FileEntryType":
        if _stat.S_ISREG(mode):
            return cls.FILE
        if _stat.S_ISDIR(mode):
            return cls.DIRECTORY
        if _stat.S_ISLNK(mode):
            return cls.SYMLINK
        return cls.OTHER


@dataclass(frozen=True)
class FileEntry:
    """One entry of a volume's filesystem.

    path is relative to the volume's root ("dir/a.txt"); mtime is in
    seconds since the epoch; mode holds the POSIX type and permission
    bits; target is a symlink's target ("" otherwise).
    """
    path: str
    type: FileEntryType
    size: int
    mtime: float
    mode: int
    target: str = ""


@dataclass(frozen=True)
class VolumeInfo:
    """What the store knows about a volume (its head version)."""
    name: str
    volume_id: str
    size: int
    chunk_size: int
    head: int
    versions: int
    snapshots: int
    chunks: int
    bytes_referenced: int
    bytes_stored: int
    last_commit: float       # seconds since the epoch, 0 if none
    encrypted: bool


@dataclass(frozen=True)
class VersionInfo:
    """One kept version of a volume."""
    version: int
    parent: int
    time: float              # seconds since the epoch
    host: str
    pid: int
    message: str
    overwrote: int           # the head a forced publish replaced, or 0
    chunks: int
    bytes_stored: int
