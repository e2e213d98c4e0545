# SPDX-License-Identifier: BSD-3-Clause
"""Exceptions, and the mapping of libs3vol's negative errno results."""
from __future__ import annotations

import errno
import os
from typing import Optional, Sequence


class Error(OSError):
    """Base of the exceptions only s3vol raises."""


class StoreError(Error):
    """The store failed or could not be reached (after retries)."""


class ConflictError(Error):
    """Another writer published first and the changes were not merged:
    an attachment's commit (the block device is not merged), or a head
    that kept moving for every replay.
    """


class EncryptionKeyError(Error):
    """An encrypted volume: no key given, or none of them fits."""


class NotAttachedError(Error):
    """commit() or reload() outside an attachment of the volume."""


_STORE = {errno.EIO, errno.ETIMEDOUT, errno.ECONNREFUSED,
          errno.EHOSTUNREACH, errno.ENXIO, errno.EREMOTEIO, errno.EPROTO,
          errno.ENOTCONN}
_BUILTIN = {errno.ENOENT: FileNotFoundError, errno.EEXIST: FileExistsError,
            errno.EACCES: PermissionError, errno.EPERM: PermissionError,
            errno.EROFS: PermissionError,
            errno.ENOTDIR: NotADirectoryError,
            errno.EISDIR: IsADirectoryError}


def error_for(err: int, messages: Sequence[str], *,
              filename: Optional[str] = None,
              conflict: bool = False) -> OSError:
    """The exception for a negative errno err, its text the library's
    messages (or strerror when it logged none)."""
    code = -err
    text = "; ".join(messages) if messages else os.strerror(code)
    cls: type[OSError]
    if conflict and code == errno.EEXIST:
        cls = ConflictError
    elif code in (errno.ENOKEY, errno.EKEYREJECTED):
        cls = EncryptionKeyError
    elif code in _BUILTIN:
        cls = _BUILTIN[code]
    elif code in _STORE:
        cls = StoreError
    elif code == errno.EINVAL:
        e = ValueError(text)
        e.errno = code  # type: ignore[attr-defined]
        return e  # type: ignore[return-value]
    else:
        cls = OSError
    if filename is not None:
        return cls(code, text, filename)
    return cls(code, text)
