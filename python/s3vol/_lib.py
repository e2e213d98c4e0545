# SPDX-License-Identifier: BSD-3-Clause
"""ctypes declarations of the part of libs3vol's ABI the package uses.

Each structure mirrors one in include/s3vol/*.h (named in its docstring);
keep them in step with the headers.  Only functions the library exports
(its version script is made from the public headers) are used.
"""
from __future__ import annotations

import ctypes
import os
import shutil
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p,
                    c_int, c_int64, c_size_t, c_uint, c_uint8, c_uint32,
                    c_uint64, c_void_p)
from typing import Optional

PATH_MAX = 4096
S3VOL_NAME_MAX = 64
S3VOL_KEY_LEN = 32

EXTFS_RECURSIVE = 1
EXTFS_FORCE = 2
EXTFS_PARENTS = 4

EXTFS_EV_EXISTS = 0
EXTFS_EV_SKIPPED = 1
EXTFS_EV_REBASED = 2
EXTFS_EV_OVERWROTE = 3
EXTFS_EV_REPLAYED = 4
EXTFS_EV_BADNAME = 5

LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG = range(4)

LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
NOTIFY_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_uint64)
PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_uint64)


class Log(Structure):
    """struct s3vol_log (log.h)."""
    _fields_ = [("fn", LOG_FN), ("opaque", c_void_p)]


class ObjstoreConfig(Structure):
    """struct objstore_config (objstore.h)."""
    _fields_ = [("log", POINTER(Log)), ("connections", c_uint),
                ("attempts", c_uint), ("retry_base_ms", c_uint),
                ("timeout_s", c_uint), ("fileio", c_void_p)]


class VolstoreConfig(Structure):
    """struct volstore_config (volume.h)."""
    _fields_ = [("log", POINTER(Log)), ("zstd_level", c_int),
                ("keep_last", c_uint), ("keep_seconds", c_int64),
                ("grace_seconds", c_int64)]


class VolInfo(Structure):
    """struct vol_info (volume.h)."""
    _fields_ = [("name", c_char * (S3VOL_NAME_MAX + 1)),
                ("volid", c_uint8 * 16), ("size", c_uint64),
                ("chunk_size", c_uint32), ("head", c_uint64),
                ("versions", c_uint64), ("snapshots", c_uint64),
                ("chunks", c_uint64), ("bytes_referenced", c_uint64),
                ("bytes_stored", c_uint64), ("last_commit_ns", c_int64),
                ("encrypted", c_bool)]


class VolRef(Structure):
    """struct vol_ref (volume.h)."""
    _fields_ = [("seq", c_uint64), ("snapshot", c_char_p)]


class VolVersion(Structure):
    """struct vol_version (volume.h)."""
    _fields_ = [("seq", c_uint64), ("parent", c_uint64),
                ("time_ns", c_int64), ("pid", c_uint32),
                ("flags", c_uint32), ("overwrote", c_uint64),
                ("host", c_char_p), ("message", c_char_p),
                ("chunks", c_uint64), ("bytes_stored", c_uint64)]


class Notify(Structure):
    """struct extfs_notify (extfs.h)."""
    _fields_ = [("fn", NOTIFY_FN), ("opaque", c_void_p)]


class Progress(Structure):
    """struct extfs_progress (extfs.h)."""
    _fields_ = [("fn", PROGRESS_FN), ("opaque", c_void_p)]


class ExtfsConfig(Structure):
    """struct extfs_config (extfs.h)."""
    _fields_ = [("log", POINTER(Log)), ("volume", c_char_p),
                ("ref", VolRef), ("writable", c_bool),
                ("tmpdir", c_char_p), ("threads", c_uint),
                ("cache_bytes", c_uint64), ("max_rebases", c_uint),
                ("notify", Notify), ("progress", Progress)]


class ExtfsStat(Structure):
    """struct extfs_stat (extfs.h)."""
    _fields_ = [("ino", c_uint32), ("mode", c_uint32), ("nlink", c_uint32),
                ("uid", c_uint32), ("gid", c_uint32), ("size", c_uint64),
                ("alloc_bytes", c_uint64), ("atime_ns", c_int64),
                ("mtime_ns", c_int64), ("ctime_ns", c_int64)]


class ExtfsSpace(Structure):
    """struct extfs_space (extfs.h)."""
    _fields_ = [("total_bytes", c_uint64), ("free_bytes", c_uint64),
                ("total_inodes", c_uint64), ("free_inodes", c_uint64)]


class ExtfsCommitResult(Structure):
    """struct extfs_commit_result (extfs.h)."""
    _fields_ = [("seq", c_uint64), ("rebases", c_uint),
                ("bytes_uploaded", c_uint64), ("changed", c_bool)]


class Attachment(Structure):
    """struct attachment (attach.h)."""
    _fields_ = [("dir", c_char * 1024), ("mountpoint", c_char * PATH_MAX),
                ("volume", c_char * 80), ("store", c_char * PATH_MAX),
                ("cache_dir", c_char * PATH_MAX), ("snapshot", c_char * 80),
                ("version", c_uint64), ("cache_size", c_uint64),
                ("readonly", c_bool), ("commit_interval", c_uint),
                ("sock", c_char * PATH_MAX), ("ctl", c_char * PATH_MAX),
                ("fuse_dir", c_char * PATH_MAX), ("log", c_char * PATH_MAX),
                ("device", c_char * 64), ("nbdkit_pid", c_int),
                ("nbdfuse_pid", c_int), ("owner_pid", c_int),
                ("owner_start", c_uint64), ("mntns", c_uint64),
                ("cache_owned", c_bool)]


class Key(Structure):
    """struct s3vol_key (crypt.h)."""
    _fields_ = [("b", c_uint8 * S3VOL_KEY_LEN)]


INFO_FN = CFUNCTYPE(c_int, c_void_p, POINTER(VolInfo))
VERSION_FN = CFUNCTYPE(c_int, c_void_p, POINTER(VolVersion))
SNAPSHOT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_uint64)
LIST_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, POINTER(ExtfsStat), c_char_p)
ATT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Attachment))
IMPORT_FN = CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)


class ImportProgress(Structure):
    """struct import_progress (import.h)."""
    _fields_ = [("fn", IMPORT_FN), ("opaque", c_void_p)]


P = c_void_p           # opaque handles: objstore, volstore, volume, extfs
PP = POINTER(c_void_p)

_PROTOS = {
    "s3vol_store_url": (c_int, [c_char_p, c_char_p, c_size_t, POINTER(Log)]),
    "objstore_open": (c_int, [c_char_p, POINTER(ObjstoreConfig), PP]),
    "objstore_close": (None, [P]),
    "volstore_open": (c_int, [P, POINTER(VolstoreConfig), PP]),
    "volstore_close": (None, [P]),
    "volstore_add_key": (c_int, [P, POINTER(Key)]),
    "s3vol_key_load": (c_int, [c_char_p, POINTER(Key), POINTER(c_char_p)]),
    "s3vol_wipe": (None, [c_void_p, c_size_t]),
    "volstore_create": (c_int, [P, c_char_p, c_uint64, c_uint32,
                                POINTER(VolInfo)]),
    "volstore_create_encrypted": (c_int, [P, c_char_p, c_uint64, c_uint32,
                                          POINTER(VolInfo)]),
    "volstore_exists": (c_int, [P, c_char_p]),
    "volstore_info": (c_int, [P, c_char_p, POINTER(VolInfo)]),
    "volstore_list": (c_int, [P, INFO_FN, c_void_p]),
    "volstore_rename": (c_int, [P, c_char_p, c_char_p]),
    "volstore_delete": (c_int, [P, c_char_p]),
    "volstore_fork": (c_int, [P, c_char_p, POINTER(VolRef), c_char_p,
                              POINTER(VolInfo)]),
    "volstore_versions": (c_int, [P, c_char_p, VERSION_FN, c_void_p]),
    "volstore_snapshot_create": (c_int, [P, c_char_p, c_char_p, c_uint64]),
    "volstore_snapshot_delete": (c_int, [P, c_char_p, c_char_p]),
    "volstore_snapshot_list": (c_int, [P, c_char_p, SNAPSHOT_FN, c_void_p]),
    "volume_open": (c_int, [P, c_char_p, POINTER(VolRef), PP]),
    "volume_close": (None, [P]),
    "volume_size": (c_uint64, [P]),
    "volume_import_fd": (c_int, [P, P, c_int, c_uint, c_char_p,
                                 POINTER(ImportProgress),
                                 POINTER(c_uint64)]),
    "extfs_open": (c_int, [P, POINTER(ExtfsConfig), PP]),
    "extfs_close": (None, [P]),
    "extfs_version": (c_uint64, [P]),
    "extfs_space": (None, [P, POINTER(ExtfsSpace)]),
    "extfs_lstat": (c_int, [P, c_char_p, POINTER(ExtfsStat)]),
    "extfs_stat": (c_int, [P, c_char_p, POINTER(ExtfsStat)]),
    "extfs_readlink": (c_int, [P, c_char_p, c_char_p, c_size_t]),
    "extfs_list": (c_int, [P, c_char_p, c_bool, LIST_FN, c_void_p]),
    "extfs_pread": (c_int, [P, c_char_p, c_void_p, c_size_t, c_uint64,
                            POINTER(c_size_t)]),
    "extfs_put": (c_int, [P, POINTER(c_char_p), c_size_t, c_char_p, c_uint]),
    "extfs_mkdir": (c_int, [P, c_char_p, c_uint]),
    "extfs_rm": (c_int, [P, c_char_p, c_uint]),
    "extfs_cp": (c_int, [P, c_char_p, c_char_p, c_uint]),
    "extfs_commit": (c_int, [P, c_char_p, POINTER(ExtfsCommitResult)]),
    "att_each": (c_int, [ATT_FN, c_void_p, POINTER(Log)]),
    "att_self_mntns": (c_uint64, []),
    "att_commit": (c_int, [POINTER(Attachment), c_char_p, POINTER(c_uint64),
                           POINTER(Log)]),
}


def _candidates() -> list[str]:
    env = os.environ.get("S3VOL_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = ["libs3vol.so.0", "libs3vol.so"]
    # An installed package finds the library of the same prefix
    # (PREFIX/lib/pythonX/site-packages/s3vol -> PREFIX/lib) even when
    # the dynamic linker's cache was not refreshed after make install.
    for prefix in ("/usr/local", "/usr"):
        out.append(os.path.join(prefix, "lib", "libs3vol.so.0"))
    out.append(os.path.join(here, "libs3vol.so.0"))
    return out


def _load() -> ctypes.CDLL:
    errors = []
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as e:
            errors.append(str(e))
    else:
        raise ImportError(
            "s3vol: cannot load libs3vol (build it with make and run "
            "make install, or set S3VOL_LIB to the path of libs3vol.so): "
            + "; ".join(errors))
    for fname, (res, args) in _PROTOS.items():
        f = getattr(lib, fname)
        f.restype = res
        f.argtypes = args
    return lib


lib = _load()


def lib_path() -> Optional[str]:
    """The file the library was loaded from, as the dynamic linker says."""
    try:
        with open("/proc/self/maps", encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                if "libs3vol.so" in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return None


def cli_path() -> str:
    """The s3vol executable: $S3VOL_CLI, else next to the library (the
    build tree's s3vol, or PREFIX/bin/s3vol), else the one on PATH.
    """
    env = os.environ.get("S3VOL_CLI")
    if env:
        return env
    where = lib_path()
    if where:
        d = os.path.dirname(where)
        for c in (os.path.join(d, "s3vol"),
                  os.path.join(d, os.pardir, "bin", "s3vol")):
            if os.access(c, os.X_OK) and os.path.isfile(c):
                return os.path.normpath(c)
    found = shutil.which("s3vol")
    if found is None:
        raise FileNotFoundError("s3vol: the s3vol executable is neither "
                                "next to libs3vol nor on PATH")
    return found
