# SPDX-License-Identifier: BSD-3-Clause
"""s3vol: versioned volumes on S3 or a local directory, from Python.

    import s3vol
    vol = s3vol.Volume.from_name("data", create_if_missing=True)
    with vol.batch_upload() as batch:
        batch.put_file("model.bin", "/models/model.bin")
    for piece in vol.read_file("/models/model.bin"):
        ...

See docs/python.md.  The work is done by libs3vol (a shared library
loaded with ctypes: $S3VOL_LIB, else the installed libs3vol.so.0).
"""
from ._errors import (ConflictError, EncryptionKeyError, Error,
                      NotAttachedError, StoreError)
from ._types import FileEntry, FileEntryType, VersionInfo, VolumeInfo
from .volume import Batch, FileReader, Volume

__all__ = ["Volume", "Batch", "FileReader", "FileEntry", "FileEntryType",
           "VolumeInfo", "VersionInfo", "Error", "StoreError",
           "ConflictError", "EncryptionKeyError", "NotAttachedError"]
__version__ = "0.1.0"
