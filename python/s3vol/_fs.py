# SPDX-License-Identifier: BSD-3-Clause
"""A volume's filesystem through libs3vol's extfs (no mount, no root)."""
from __future__ import annotations

import ctypes
import errno
import os
import threading
from ctypes import byref, c_char_p, c_size_t, c_void_p, pointer
from typing import Callable, Optional

from . import _lib
from ._errors import error_for
from ._lib import lib
from ._store import Store, fsenc

# Pieces a streamed read asks the library for.
READ_PIECE = 4 << 20


def vol_ref(version: Optional[int], snapshot: Optional[str]) -> _lib.VolRef:
    if version is not None and snapshot is not None:
        raise ValueError("give version= or snapshot=, not both")
    if version is not None and version < 1:
        raise ValueError("version must be 1 or more")
    return _lib.VolRef(seq=version or 0,
                       snapshot=snapshot.encode() if snapshot else None)


class Fs:
    """One extfs handle: read-only on a version, or writable on the head.

    Not thread-safe in the library, so every call takes the handle's
    lock (the GIL is released meanwhile).
    """

    def __init__(self, store: Store, name: str, *, writable: bool = False,
                 version: Optional[int] = None,
                 snapshot: Optional[str] = None) -> None:
        self._x = c_void_p()
        self.store = store
        self.name = name
        self.exists: list[str] = []      # EXTFS_EV_EXISTS paths
        self._lock = threading.Lock()
        self._notify_fn = _lib.NOTIFY_FN(self._on_notify)
        self._name_b = fsenc(name)
        self._cfg = _lib.ExtfsConfig(
            log=pointer(store.msgs.log), volume=self._name_b,
            ref=vol_ref(version, snapshot), writable=writable,
            notify=_lib.Notify(self._notify_fn, None))
        with store.msgs.capture() as m:
            store.msgs.check(lib.extfs_open(store.vs, byref(self._cfg),
                                            byref(self._x)), m)

    def _on_notify(self, _opaque: Optional[int], ev: int,
                   path: Optional[bytes], _seq: int) -> None:
        if ev == _lib.EXTFS_EV_EXISTS and path is not None:
            self.exists.append(os.fsdecode(path))

    def close(self) -> None:
        with self._lock:
            if self._x:
                lib.extfs_close(self._x)
                self._x = c_void_p()

    def __enter__(self) -> "Fs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self.close()

    def call(self, fn: Callable[..., int], *args: object,
             filename: Optional[str] = None, conflict: bool = False,
             quiet: tuple[int, ...] = ()) -> int:
        """fn(handle, *args); raise its exception on failure unless the
        error is one of quiet (then return it)."""
        with self._lock, self.store.msgs.capture() as m:
            if not self._x:
                raise ValueError("s3vol: the handle is closed")
            r = fn(self._x, *args)
        if r < 0 and -r not in quiet:
            raise error_for(r, m, filename=filename, conflict=conflict)
        return r

    @property
    def version(self) -> int:
        with self._lock:
            return int(lib.extfs_version(self._x))

    def lstat(self, path: str) -> _lib.ExtfsStat:
        st = _lib.ExtfsStat()
        self.call(lib.extfs_lstat, fsenc(path), byref(st), filename=path)
        return st

    def stat(self, path: str) -> Optional[_lib.ExtfsStat]:
        """Attributes through symlinks, None if path does not exist."""
        st = _lib.ExtfsStat()
        r = self.call(lib.extfs_stat, fsenc(path), byref(st), filename=path,
                      quiet=(errno.ENOENT,))
        return None if r < 0 else st

    def list(self, path: str) -> list[tuple[str, _lib.ExtfsStat, str]]:
        """(name, attributes, symlink target) of a directory's entries."""
        out: list[tuple[str, _lib.ExtfsStat, str]] = []

        def one(_o: Optional[int], name: bytes, st: "ctypes._Pointer",
                target: Optional[bytes]) -> int:
            out.append((os.fsdecode(name),
                        _lib.ExtfsStat.from_buffer_copy(st.contents),
                        os.fsdecode(target or b"")))
            return 0
        fn = _lib.LIST_FN(one)
        self.call(lib.extfs_list, fsenc(path), True, fn, None, filename=path)
        return out

    def readlink(self, path: str) -> str:
        buf = ctypes.create_string_buffer(_lib.PATH_MAX + 1)
        self.call(lib.extfs_readlink, fsenc(path), buf, len(buf),
                  filename=path)
        return os.fsdecode(buf.value)

    def pread(self, path: bytes, buf: ctypes.Array, off: int) -> int:
        got = c_size_t()
        self.call(lib.extfs_pread, path, buf, len(buf), off, byref(got),
                  filename=os.fsdecode(path))
        return got.value

    def put(self, locals_: list[str], remote: str, flags: int) -> None:
        arr = (c_char_p * len(locals_))(*[fsenc(p) for p in locals_])
        self.exists.clear()
        r = self.call(lib.extfs_put, arr, len(locals_), fsenc(remote), flags,
                      filename=remote, quiet=(errno.EEXIST,))
        if r < 0:
            self.raise_exists(remote)

    def raise_exists(self, remote: str) -> None:
        paths = self.exists or [remote]
        raise FileExistsError(
            errno.EEXIST, "exists in volume %s: %s (force=True replaces "
            "it); nothing was published" % (self.name, ", ".join(paths)),
            paths[0])

    def commit(self, message: Optional[str]) -> _lib.ExtfsCommitResult:
        res = _lib.ExtfsCommitResult()
        self.call(lib.extfs_commit, message.encode() if message else None,
                  byref(res), conflict=True)
        return res
