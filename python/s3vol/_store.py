# SPDX-License-Identifier: BSD-3-Clause
"""An open store (objstore + volstore), and the collection of the
library's messages for exceptions."""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import weakref
from ctypes import byref, c_char_p, c_void_p, pointer
from typing import Iterator, Optional

from . import _lib
from ._errors import EncryptionKeyError, error_for
from ._lib import lib

_logger = logging.getLogger("s3vol")


def fsenc(s: "str | os.PathLike[str] | bytes") -> bytes:
    """A path or name as the library takes it."""
    return os.fsencode(s)


class Messages:
    """Collects what the library logs while calls are in flight.

    The library reports a failure once, through the log of the object
    that failed, possibly from one of its worker threads.  Each call
    registers a list while it runs; every error message logged meanwhile
    goes to each registered list (so concurrent calls on one store may
    see each other's messages too), warnings and the rest go to the
    "s3vol" logger.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: list[list[str]] = []
        self.fn = _lib.LOG_FN(self._on_log)
        self.log = _lib.Log(self.fn, None)

    def _on_log(self, _opaque: Optional[int], level: int,
                msg: Optional[bytes]) -> None:
        text = (msg or b"").decode("utf-8", "backslashreplace")
        if level == _lib.LOG_ERROR:
            with self._lock:
                for s in self._sinks:
                    s.append(text)
        elif level == _lib.LOG_WARNING:
            _logger.warning("%s", text)
        elif level == _lib.LOG_INFO:
            _logger.info("%s", text)
        else:
            _logger.debug("%s", text)

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[str]]:
        sink: list[str] = []
        with self._lock:
            self._sinks.append(sink)
        try:
            yield sink
        finally:
            with self._lock:
                self._sinks.remove(sink)

    def check(self, r: int, sink: list[str], **kw) -> int:
        """r if it is not an error, else raise its exception."""
        if r < 0:
            raise error_for(r, sink, **kw)
        return r


def _close(os_ptr: c_void_p, vs_ptr: c_void_p) -> None:
    if vs_ptr:
        lib.volstore_close(vs_ptr)
    if os_ptr:
        lib.objstore_close(os_ptr)


def resolve_url(url: Optional[str], msgs: Messages) -> str:
    """The store URL as the CLI picks it: url, else $S3VOL_STORE, else
    the default directory store (made on first use)."""
    buf = ctypes.create_string_buffer(_lib.PATH_MAX + 16)
    with msgs.capture() as m:
        msgs.check(lib.s3vol_store_url(fsenc(url) if url else None, buf,
                                       len(buf), byref(msgs.log)), m)
    return os.fsdecode(buf.value)


class Store:
    """An open volume store.  Safe to use from many threads (libs3vol's
    volstore is); closed when the last reference goes."""

    def __init__(self, url: Optional[str] = None,
                 key_file: "Optional[str | os.PathLike[str]]" = None):
        self.msgs = Messages()
        self.url = resolve_url(url, self.msgs)
        self._os = c_void_p()
        self._vs = c_void_p()
        oscfg = _lib.ObjstoreConfig(log=pointer(self.msgs.log))
        vscfg = _lib.VolstoreConfig(log=pointer(self.msgs.log))
        with self.msgs.capture() as m:
            self.msgs.check(lib.objstore_open(fsenc(self.url), byref(oscfg),
                                              byref(self._os)), m)
            r = lib.volstore_open(self._os, byref(vscfg), byref(self._vs))
            if r < 0:
                lib.objstore_close(self._os)
                self.msgs.check(r, m)
        self._finalizer = weakref.finalize(self, _close, self._os, self._vs)
        if key_file is None:
            key_file = os.environ.get("S3VOL_KEY_FILE") or None
        if key_file is not None:
            self._add_key(fsenc(key_file))

    def _add_key(self, path: bytes) -> None:
        key = _lib.Key()
        why = c_char_p()
        try:
            r = lib.s3vol_key_load(path, byref(key), byref(why))
            if r == 0:
                with self.msgs.capture() as m:
                    self.msgs.check(lib.volstore_add_key(self._vs,
                                                         byref(key)), m)
                return
        finally:
            lib.s3vol_wipe(byref(key), ctypes.sizeof(key))
        text = "key file %s %s" % (os.fsdecode(path),
                                   (why.value or b"").decode())
        raise EncryptionKeyError(-r, text, os.fsdecode(path))

    @property
    def vs(self) -> c_void_p:
        return self._vs

    def close(self) -> None:
        """Close the store now (also done when it is collected)."""
        self._finalizer()

    def call(self, fn, *args, **kw) -> int:
        """Call a library function taking the volstore first; raise the
        exception for a failure (kw: filename=, conflict=)."""
        with self.msgs.capture() as m:
            return self.msgs.check(fn(self._vs, *args), m, **kw)
