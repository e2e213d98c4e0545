# SPDX-License-Identifier: BSD-3-Clause
"""Every method of s3vol.Volume, on a directory store and on RGW."""
from __future__ import annotations

import errno
import io
import os
import stat
import threading
import time

import pytest

import s3vol
from conftest import SMALL, run_cli
from s3vol import FileEntryType


def test_volumes_of_a_store(store: str) -> None:
    with pytest.raises(FileNotFoundError):
        s3vol.Volume.from_name("a", store=store)
    a = s3vol.Volume.from_name("a", create_if_missing=True, store=store,
                               size=SMALL)
    assert a.info().size == SMALL and a.info().head >= 1
    # the volume holds an empty ext4 filesystem, as s3vol create makes
    assert [e.path for e in a.listdir("/")] == ["lost+found"]
    assert s3vol.Volume.lookup("a", store=store).name == "a"
    again = s3vol.Volume.from_name("a", create_if_missing=True, store=store)
    assert again.info().head == a.info().head
    s3vol.Volume.create("b", size=SMALL, chunk_size=4 << 20, store=store)
    with pytest.raises(FileExistsError):
        s3vol.Volume.create("b", size=SMALL, store=store)
    infos = s3vol.Volume.list(store=store)
    assert [i.name for i in infos] == ["a", "b"]
    assert infos[1].chunk_size == 4 << 20 and not infos[1].encrypted
    s3vol.Volume.rename("b", "c", store=store)
    with pytest.raises(FileExistsError):
        s3vol.Volume.rename("a", "c", store=store)
    s3vol.Volume.delete("a", store=store)
    assert [i.name for i in s3vol.Volume.list(store=store)] == ["c"]
    with pytest.raises(FileNotFoundError):
        s3vol.Volume.delete("a", store=store)
    # the CLI sees the same store
    p = run_cli("--store", store, "list")
    assert p.returncode == 0 and "c" in p.stdout


def test_store_from_env_and_default(store: str, private_home: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3VOL_STORE", store)
    v = s3vol.Volume.from_name("e", create_if_missing=True, size=SMALL)
    assert v.store_url == store
    assert [i.name for i in s3vol.Volume.list(store=store)] == ["e"]
    monkeypatch.delenv("S3VOL_STORE")
    d = s3vol.Volume.from_name("dflt", create_if_missing=True, size=SMALL)
    assert d.store_url == "file://%s/data/s3vol/store" % private_home
    p = run_cli("list")                 # the CLI's default store too
    assert "dflt" in p.stdout
    s3vol.Volume.delete("dflt")


def test_ephemeral(store: str) -> None:
    with s3vol.Volume.ephemeral(size=SMALL, store=store) as v:
        name = v.name
        with v.batch_upload() as b:
            b.put_file(io.BytesIO(b"x"), "/x")
        assert [i.name for i in s3vol.Volume.list(store=store)] == [name]
    assert s3vol.Volume.list(store=store) == []
    with pytest.raises(ZeroDivisionError):
        with s3vol.Volume.ephemeral(size=SMALL, store=store) as v:
            name = v.name
            1 / 0
    assert s3vol.Volume.list(store=store) == []


def test_batch_upload_and_listdir(vol: s3vol.Volume, tmp_path) -> None:
    local = tmp_path / "tree"
    (local / "sub" / "deeper").mkdir(parents=True)
    (local / "one.txt").write_bytes(b"one")
    (local / "sub" / "two.bin").write_bytes(os.urandom(300000))
    (local / "sub" / "deeper" / "three").write_bytes(b"3" * 10)
    os.symlink("one.txt", local / "link")
    single = tmp_path / "single"
    single.write_bytes(b"single")
    os.chmod(single, 0o600)
    head = vol.info().head
    with vol.batch_upload() as batch:
        batch.put_file(single, "/files/single")
        batch.put_file(io.BytesIO(b"from a file object"), "files/obj.txt")
        with open(local / "one.txt", "rb") as f:
            batch.put_file(f, "/files/opened")
        batch.put_directory(local, "/tree")
        batch.put_directory(tmp_path / "tree" / "sub" / "deeper", "/d2/")
    assert batch.version == head + 1 == vol.info().head    # one version
    top = {e.path: e for e in vol.listdir("/")}
    assert set(top) == {"files", "tree", "d2", "lost+found"}
    assert top["tree"].type == FileEntryType.DIRECTORY == "directory"
    tree = {e.path: e for e in vol.listdir("/tree", recursive=True)}
    assert set(tree) == {"tree/one.txt", "tree/sub", "tree/link",
                         "tree/sub/two.bin", "tree/sub/deeper",
                         "tree/sub/deeper/three"}
    assert tree["tree/link"].type == FileEntryType.SYMLINK
    assert tree["tree/link"].target == "one.txt"
    assert tree["tree/sub/two.bin"].size == 300000
    assert tree["tree/sub/two.bin"].type == "file"
    assert abs(tree["tree/one.txt"].mtime -
               os.stat(local / "one.txt").st_mtime) < 1
    assert stat.S_IMODE(vol.listdir("/files/single")[0].mode) == 0o600
    assert [e.path for e in vol.listdir("/d2")] == ["d2/three"]
    assert vol.listdir("files/obj.txt")[0].size == 18
    # iterdir is lazy: a generator, the first entry before the rest
    it = vol.iterdir("/tree", recursive=True)
    assert next(it).path == "tree/link"
    it.close()
    got = b"".join(vol.read_file("/tree/sub/two.bin"))
    assert got == (local / "sub" / "two.bin").read_bytes()
    assert b"".join(vol.read_file("/tree/link")) == b"one"
    buf = io.BytesIO()
    assert vol.read_file_into_fileobj("files/obj.txt", buf) == 18
    assert buf.getvalue() == b"from a file object"
    assert b"".join(vol.read_file("/files/opened")) == b"one"


def test_force(vol: s3vol.Volume, tmp_path) -> None:
    with vol.batch_upload() as b:
        b.put_file(io.BytesIO(b"old"), "/a")
        b.put_file(io.BytesIO(b"old"), "/dir/b")
    head = vol.info().head
    # an existing file without force: FileExistsError naming it, and
    # nothing of the batch is published
    with pytest.raises(FileExistsError) as ei:
        with vol.batch_upload() as b:
            b.put_file(io.BytesIO(b"new"), "/fresh")
            b.put_file(io.BytesIO(b"new"), "/a")
    assert ei.value.filename == "/a" and "/a" in str(ei.value)
    assert vol.info().head == head
    assert [e.path for e in vol.listdir("/")] == ["a", "dir", "lost+found"]
    local = tmp_path / "t"
    local.mkdir()
    (local / "b").write_bytes(b"new")
    with pytest.raises(FileExistsError) as ei:
        with vol.batch_upload() as b:
            b.put_directory(local, "/dir")
    assert ei.value.filename == "/dir/b"
    assert vol.info().head == head
    with vol.batch_upload(force=True) as b:
        b.put_file(io.BytesIO(b"new"), "/a")
        b.put_directory(local, "/dir")
    assert vol.info().head == head + 1
    assert b"".join(vol.read_file("/a")) == b"new"
    assert b"".join(vol.read_file("/dir/b")) == b"new"
    # any exception in the block: nothing published
    with pytest.raises(RuntimeError):
        with vol.batch_upload(force=True) as b:
            b.put_file(io.BytesIO(b"newer"), "/a")
            raise RuntimeError("changed my mind")
    assert vol.info().head == head + 1
    with pytest.raises(ValueError):
        b.put_file(io.BytesIO(b"late"), "/late")


def test_remove_copy(vol: s3vol.Volume) -> None:
    with vol.batch_upload() as b:
        b.put_file(io.BytesIO(b"1"), "/d/one")
        b.put_file(io.BytesIO(b"2"), "/d/two")
        b.put_file(io.BytesIO(b"3"), "/three")
    v = vol.copy_files(["/d"], "/e")
    assert v == vol.info().head
    assert [e.path for e in vol.listdir("/e")] == ["e/one", "e/two"]
    vol.copy_files(["/three", "/d/one"], "/many")
    assert [e.path for e in vol.listdir("/many")] == ["many/one",
                                                      "many/three"]
    with pytest.raises(FileExistsError):
        vol.copy_files(["/three"], "/d/one")
    vol.copy_files(["/three"], "/d/one", force=True)
    assert b"".join(vol.read_file("/d/one")) == b"3"
    with pytest.raises(IsADirectoryError):
        vol.remove_file("/d")        # a directory needs recursive=True
    vol.remove_file("/three")
    vol.remove_file("/d", recursive=True)
    assert [e.path for e in vol.listdir("/")] == ["e", "lost+found", "many"]
    with pytest.raises(FileNotFoundError):
        vol.remove_file("/three")
    with pytest.raises(FileNotFoundError):
        vol.copy_files(["/nope"], "/x")


def test_versions_snapshots_fork(vol: s3vol.Volume) -> None:
    with vol.batch_upload(message="first") as b:
        b.put_file(io.BytesIO(b"v1"), "/f")
    v1 = b.version
    vol.snapshot("s1")
    with vol.batch_upload(force=True) as b:
        b.put_file(io.BytesIO(b"v2"), "/f")
        b.put_file(io.BytesIO(b"v2"), "/g")
    vs = vol.versions()
    assert [x.version for x in vs][-2:] == [v1, v1 + 1]
    assert vs[-2].message == "first" and vs[-1].time >= vs[-2].time
    assert vol.snapshots() == {"s1": v1}
    assert vol.info().snapshots == 1
    assert b"".join(vol.read_file("/f")) == b"v2"
    assert b"".join(vol.read_file("/f", version=v1)) == b"v1"
    assert b"".join(vol.read_file("/f", snapshot="s1")) == b"v1"
    buf = io.BytesIO()
    vol.read_file_into_fileobj("/f", buf, snapshot="s1")
    assert buf.getvalue() == b"v1"
    assert [e.path for e in vol.listdir("/", snapshot="s1")] == \
        ["f", "lost+found"]
    assert [e.path for e in vol.iterdir("/", version=v1 + 1)] == \
        ["f", "g", "lost+found"]
    old = vol.fork("old", snapshot="s1")
    assert old.info().head == 1
    assert b"".join(old.read_file("/f")) == b"v1"
    new = vol.fork("new")
    assert [e.path for e in new.listdir("/")] == ["f", "g", "lost+found"]
    with pytest.raises(FileExistsError):
        vol.snapshot("s1")
    with pytest.raises(FileNotFoundError):
        vol.read_file("/f", snapshot="nope")
    vol.delete_snapshot("s1")
    assert vol.snapshots() == {}


def test_errors(vol: s3vol.Volume, store: str, tmp_path) -> None:
    with pytest.raises(FileNotFoundError) as ei:
        vol.read_file("/missing")
    assert ei.value.filename == "/missing"
    with pytest.raises(FileNotFoundError):
        vol.listdir("/missing")
    with pytest.raises(IsADirectoryError):
        vol.read_file("/lost+found")
    with pytest.raises(ValueError) as ei:
        s3vol.Volume.create("bad/name", size=SMALL, store=store)
    assert "name" in str(ei.value)          # the library's message
    with pytest.raises(ValueError):
        vol.read_file("/f", version=1, snapshot="s")
    with pytest.raises(s3vol.StoreError) as ei:
        s3vol.Volume.list(store="file://%s/none" % tmp_path)
    assert "none" in str(ei.value)
    with pytest.raises(s3vol.NotAttachedError) as ei:
        vol.commit()
    assert "not attached" in str(ei.value)
    with pytest.raises(s3vol.NotAttachedError):
        vol.reload()
    with pytest.raises(FileNotFoundError):
        with vol.batch_upload() as b:
            b.put_file(tmp_path / "no-such-local-file", "/x")
    with pytest.raises(ValueError):
        with vol.batch_upload() as b:
            b.put_file(io.BytesIO(b"x"), "/dir/")
    assert [e.path for e in vol.listdir("/")] == ["lost+found"]
    # the mapping of errno values the tests cannot provoke cheaply
    from s3vol._errors import error_for
    assert isinstance(error_for(-errno.EEXIST, ["m"], conflict=True),
                      s3vol.ConflictError)
    assert isinstance(error_for(-errno.EACCES, ["m"]), PermissionError)
    assert isinstance(error_for(-errno.ETIMEDOUT, []), s3vol.StoreError)


def test_encrypted(store: str, tmp_path) -> None:
    key = tmp_path / "key"
    p = run_cli("keygen", str(key))
    assert p.returncode == 0, p.stderr
    v = s3vol.Volume.create("sec", size=SMALL, store=store, key_file=key,
                            encrypt=True)
    assert v.info().encrypted
    with v.batch_upload() as b:
        b.put_file(io.BytesIO(b"secret"), "/s")
    with pytest.raises(s3vol.EncryptionKeyError):
        s3vol.Volume.from_name("sec", store=store).listdir("/")
    again = s3vol.Volume.from_name("sec", store=store, key_file=key)
    assert b"".join(again.read_file("/s")) == b"secret"
    with pytest.raises(s3vol.EncryptionKeyError):
        s3vol.Volume.create("x", size=SMALL, store=store, encrypt=True)
    os.chmod(key, 0o644)
    with pytest.raises(s3vol.EncryptionKeyError) as ei:
        s3vol.Volume.from_name("sec", store=store, key_file=key)
    assert "readable or writable by other users" in str(ei.value)


def test_threads(vol: s3vol.Volume) -> None:
    data = {"/t%d" % i: os.urandom(200000 + i) for i in range(4)}
    with vol.batch_upload() as b:
        for k, d in data.items():
            b.put_file(io.BytesIO(d), k)
    errors: list[BaseException] = []
    ticks = [0]
    done = threading.Event()

    def reader(path: str) -> None:
        try:
            for _ in range(3):
                assert b"".join(vol.read_file(path, piece=65536)) == \
                    data[path]
                assert len(vol.listdir("/")) == 5
        except BaseException as e:      # noqa: B902 (reported below)
            errors.append(e)

    def ticker() -> None:               # runs while the others are in C
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0.001)
    ts = [threading.Thread(target=reader, args=(p,)) for p in data]
    tk = threading.Thread(target=ticker)
    tk.start()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done.set()
    tk.join()
    assert not errors, errors
    assert ticks[0] > 10
