# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures of the Python API's tests (tests/python/run.sh runs them
with the package installed in a private venv, S3VOL_LIB and S3VOL_CLI
naming the build's library and CLI, and the S3 server's environment).

store: a fresh, empty store URL, once a directory store and once a
prefix of the shared RGW bucket (removed at the end).
"""
from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
from typing import Iterator

import pytest

import s3vol
from s3vol import _lib


def no_skip() -> bool:
    return os.environ.get("S3VOL_NO_SKIP") == "1"


def need(cond: bool, why: str) -> None:
    """Skip loudly when cond is false (fail where nothing may skip)."""
    if cond:
        return
    print("SKIP: " + why)
    if no_skip():
        pytest.fail("SKIP not allowed here: " + why)
    pytest.skip("SKIP: " + why)


def is_root() -> bool:
    return os.geteuid() == 0


def can_mount() -> bool:
    return is_root() and os.path.exists("/dev/fuse") and \
        os.path.exists("/dev/loop-control")


@pytest.fixture(autouse=True, scope="session")
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HOME, caches and the run directory of the tests' own."""
    home = str(tmp_path_factory.mktemp("home"))
    saved = dict(os.environ)
    os.environ.update(HOME=home, XDG_CACHE_HOME=home + "/cache",
                      XDG_DATA_HOME=home + "/data",
                      S3VOL_RUN_DIR=home + "/run")
    for k in ("S3VOL_STORE", "S3VOL_KEY_FILE"):
        os.environ.pop(k, None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


class _Entry(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p)]     # struct objstore_entry, head


def wipe_store(url: str) -> None:
    """Delete every object of the store (an RGW prefix), through
    libs3vol's objstore."""
    lib = _lib.lib
    fn_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                            ctypes.POINTER(_Entry))
    lib.objstore_list.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                  ctypes.c_char_p, fn_t, ctypes.c_void_p]
    lib.objstore_del_many.argtypes = [ctypes.c_void_p,
                                      ctypes.POINTER(ctypes.c_char_p),
                                      ctypes.c_size_t]
    s = ctypes.c_void_p()
    cfg = _lib.ObjstoreConfig()
    assert lib.objstore_open(url.encode(), ctypes.byref(cfg),
                             ctypes.byref(s)) == 0
    keys: list[bytes] = []

    def one(_o: int, e: "ctypes._Pointer") -> int:
        keys.append(e.contents.key)
        return 0
    try:
        assert lib.objstore_list(s, b"", None, fn_t(one), None) >= 0
        for i in range(0, len(keys), 1000):
            part = keys[i:i + 1000]
            assert lib.objstore_del_many(
                s, (ctypes.c_char_p * len(part))(*part), len(part)) == 0
        keys.clear()
        assert lib.objstore_list(s, b"", None, fn_t(one), None) >= 0
        assert keys == [], "left in %s: %r" % (url, keys[:5])
    finally:
        lib.objstore_close(s)


def rgw_url(tag: str) -> str:
    need(bool(os.environ.get("S3VOL_TEST_BUCKET")) and
         bool(os.environ.get("AWS_ENDPOINT_URL")),
         "no S3 environment (S3VOL_TEST_BUCKET, AWS_ENDPOINT_URL): the "
         "RGW variant did not run")
    return "s3://%s/py-%s-%d-%s" % (os.environ["S3VOL_TEST_BUCKET"], tag,
                                    os.getpid(), secrets.token_hex(4))


@pytest.fixture(params=["dir", "rgw"])
def store(request: pytest.FixtureRequest,
          tmp_path: "os.PathLike[str]") -> Iterator[str]:
    if request.param == "dir":
        d = os.path.join(os.fspath(tmp_path), "store")
        os.mkdir(d)
        yield "file://" + d
        return
    url = rgw_url(request.node.name.split("[")[0][:40])
    try:
        yield url
    finally:
        wipe_store(url)


@pytest.fixture
def dir_store(tmp_path: "os.PathLike[str]") -> str:
    d = os.path.join(os.fspath(tmp_path), "store")
    os.mkdir(d)
    return "file://" + d


SMALL = 256 << 20       # volumes of the tests: small, quick to format


@pytest.fixture
def vol(store: str) -> s3vol.Volume:
    return s3vol.Volume.create("v", size=SMALL, store=store)


def cli() -> str:
    return _lib.cli_path()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cli(), *args], capture_output=True, text=True,
                          check=False)


def which_sbin(name: str) -> str:
    p = shutil.which(name, path=os.environ.get("PATH", "") +
                     ":/usr/sbin:/sbin")
    assert p, name
    return p
