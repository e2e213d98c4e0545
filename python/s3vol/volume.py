# SPDX-License-Identifier: BSD-3-Clause
"""s3vol.Volume: versioned volumes driven from Python, shaped like
modal.Volume.  libs3vol does the work; each call opens what it needs
(an extfs handle on a version, or on the head to write) and closes it.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat as _stat
import subprocess
import tempfile
from ctypes import byref, c_uint64, c_void_p
from typing import (IO, Any, BinaryIO, Iterable, Iterator, Optional, Union)

from . import _lib
from ._errors import NotAttachedError, error_for
from ._fs import READ_PIECE, Fs, vol_ref
from ._lib import lib
from ._store import Store, fsenc
from ._types import FileEntry, FileEntryType, VersionInfo, VolumeInfo

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_SIZE = 1 << 40          # as s3vol create: 1 TiB, thin


def _info(i: _lib.VolInfo) -> VolumeInfo:
    return VolumeInfo(
        name=i.name.decode(), volume_id=bytes(i.volid).hex(), size=i.size,
        chunk_size=i.chunk_size, head=i.head, versions=i.versions,
        snapshots=i.snapshots, chunks=i.chunks,
        bytes_referenced=i.bytes_referenced, bytes_stored=i.bytes_stored,
        last_commit=i.last_commit_ns / 1e9, encrypted=bool(i.encrypted))


def _rel(path: str) -> str:
    return path.strip("/")


def _entry(path: str, st: _lib.ExtfsStat, target: str = "") -> FileEntry:
    return FileEntry(path=_rel(path), type=FileEntryType.from_mode(st.mode),
                     size=st.size, mtime=st.mtime_ns / 1e9, mode=st.mode,
                     target=target)


def _format(store: Store, name: str) -> None:
    """Put an empty ext4 filesystem into a new volume, as s3vol create
    does: mkfs.ext4 on a sparse private temporary file as large as the
    volume, whose few written chunks the library imports as a version."""
    v = c_void_p()
    store.call(lib.volume_open, fsenc(name), None, byref(v))
    try:
        size = lib.volume_size(v)
        with tempfile.TemporaryDirectory(prefix="s3vol-mkfs-") as d:
            img = os.path.join(d, "fs.img")
            with open(img, "wb") as f:
                f.truncate(size)
            mkfs = shutil.which("mkfs.ext4", path=os.environ.get("PATH", "")
                                + ":/usr/sbin:/sbin")
            if mkfs is None:
                raise FileNotFoundError(errno.ENOENT, "s3vol: mkfs.ext4 not "
                                        "found (install e2fsprogs)")
            p = subprocess.run(
                [mkfs, "-q", "-F", "-b", "4096", "-m", "0", "-E",
                 "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                 "-L", name[:16], img],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                check=False)
            if p.returncode != 0:
                raise OSError(errno.EIO, "s3vol: mkfs.ext4 failed: "
                              + (p.stderr.strip() or "exit %d" %
                                 p.returncode))
            seq = c_uint64()
            fd = os.open(img, os.O_RDONLY)
            try:
                store.call(lambda vs: lib.volume_import_fd(
                    v, vs, fd, 8, b"mkfs.ext4", None, byref(seq)))
            finally:
                os.close(fd)
    finally:
        lib.volume_close(v)


class _Attachment:
    """An attachment record (attach.h) of the volume, seen from here."""

    def __init__(self, a: _lib.Attachment) -> None:
        self.rec = a
        self.mountpoint = os.fsdecode(a.mountpoint)
        self.store = os.fsdecode(a.store)
        self.readonly = bool(a.readonly)


def _attachments(volume: str, msgs: Any) -> "tuple[list[_Attachment], str]":
    """Attachments of volume visible in this mount namespace (their
    record names it, or names none), through att_each; and why none
    could be seen ("" if the run directory was read)."""
    ns = lib.att_self_mntns()
    found: list[_Attachment] = []

    def one(_o: Optional[int], a: "ctypes._Pointer") -> int:
        rec = a.contents
        if rec.volume.decode() == volume and rec.mntns in (0, ns):
            found.append(_Attachment(_lib.Attachment.from_buffer_copy(rec)))
        return 0
    fn = _lib.ATT_FN(one)
    with msgs.capture() as m:
        r = lib.att_each(fn, None, byref(msgs.log))
    if r == -errno.EACCES:
        # Another user's run directory (root's /run/s3vol): none of its
        # attachments can be this process's.
        return [], "; ".join(m)
    msgs.check(r, m)
    return found, ""


class FileReader:
    """An iterator of a volume file's bytes in pieces (bounded memory:
    one piece at a time).  Closes its handle when exhausted, on close(),
    or at the end of a with block."""

    def __init__(self, fs: Fs, path: str, piece: int) -> None:
        self._fs = fs
        self._path = fsenc(path)
        self._buf = ctypes.create_string_buffer(piece)
        self._off = 0

    def __iter__(self) -> "FileReader":
        return self

    def __next__(self) -> bytes:
        if self._fs is None:
            raise StopIteration
        try:
            got = self._fs.pread(self._path, self._buf, self._off)
        except BaseException:
            self.close()
            raise
        if got == 0:
            self.close()
            raise StopIteration
        self._off += got
        return self._buf.raw[:got]

    def close(self) -> None:
        if self._fs is not None:
            self._fs.close()
            self._fs = None

    def __enter__(self) -> "FileReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Batch:
    """Uploads published as one version when the with block ends without
    an exception; nothing is published otherwise.  Returned by
    Volume.batch_upload."""

    def __init__(self, vol: "Volume", force: bool,
                 message: Optional[str]) -> None:
        self._vol = vol
        self._flags = _lib.EXTFS_FORCE if force else 0
        self._message = message
        self._fs: Optional[Fs] = None
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self.version: Optional[int] = None

    def __enter__(self) -> "Batch":
        self._fs = self._vol._fs(writable=True)
        return self

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        fs, self._fs = self._fs, None
        try:
            if et is None and fs is not None:
                self.version = int(fs.commit(self._message or
                                             "python batch_upload").seq)
        finally:
            if fs is not None:
                fs.close()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def _handle(self) -> Fs:
        if self._fs is None:
            raise ValueError("s3vol: use the batch inside its with block")
        return self._fs

    def put_file(self, local_file: Union[PathLike, IO[bytes]],
                 remote_path: str, *, mode: int = 0o644) -> None:
        """Copy a local file (a path, or a binary file object read to its
        end) to remote_path in the volume.  A file object is spooled to a
        private temporary file first, which gets mode."""
        fs = self._handle()
        if isinstance(local_file, (str, bytes, os.PathLike)):
            fs.put([os.fspath(local_file)], remote_path, self._flags)
            return
        if remote_path.endswith("/"):
            raise ValueError("s3vol: put_file of a file object needs the "
                             "remote file's name, not a directory: %s" %
                             remote_path)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="s3vol-put-")
        spool = os.path.join(self._tmp.name, "spool")
        with open(spool, "wb") as f:
            shutil.copyfileobj(local_file, f, READ_PIECE)
        os.chmod(spool, mode)
        try:
            fs.put([spool], remote_path, self._flags)
        finally:
            os.unlink(spool)

    def put_directory(self, local_path: PathLike, remote_path: str) -> None:
        """Copy what the local directory holds (recursively) into the
        directory remote_path of the volume (made if missing)."""
        fs = self._handle()
        local = os.fspath(local_path)
        if not os.path.isdir(local):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory",
                                     local)
        names = sorted(os.listdir(local))
        remote = "/" + _rel(remote_path)
        if not names:
            fs.call(lib.extfs_mkdir, fsenc(remote), _lib.EXTFS_PARENTS,
                    filename=remote)
            return
        fs.put([os.path.join(local, n) for n in names],
               remote.rstrip("/") + "/", self._flags)


class Volume:
    """A named volume in a store.

    Get one with Volume.from_name (or create, ephemeral, fork).  Reads
    take version= or snapshot= (default: the newest version).  Writes
    (batch_upload, remove_file, copy_files) each publish one version;
    writers of different files merge, the last of two writers of one
    path wins.  Safe to share between threads.
    """

    def __init__(self, store: Store, name: str) -> None:
        self._store = store
        self.name = name

    def __repr__(self) -> str:
        return "s3vol.Volume(%r, store=%r)" % (self.name, self._store.url)

    @property
    def store_url(self) -> str:
        """The store's URL as resolved (argument, $S3VOL_STORE or the
        default)."""
        return self._store.url

    # ---- volumes of a store -------------------------------------------

    @classmethod
    def from_name(cls, name: str, *, create_if_missing: bool = False,
                  store: Optional[str] = None,
                  key_file: Optional[PathLike] = None,
                  size: int = DEFAULT_SIZE, chunk_size: int = 0) -> "Volume":
        """The volume name in store (else $S3VOL_STORE, else the default
        directory store, as the CLI).  FileNotFoundError if there is no
        such volume, unless create_if_missing (then it is created with
        size and chunk_size, holding an empty ext4 filesystem)."""
        st = Store(store, key_file)
        r = st.call(lib.volstore_exists, fsenc(name))
        if r == 0:
            if not create_if_missing:
                raise FileNotFoundError(
                    errno.ENOENT, "no volume %s in %s" % (name, st.url),
                    name)
            try:
                return cls._create(st, name, size, chunk_size, False)
            except FileExistsError:
                pass                     # created meanwhile by another
        return cls(st, name)

    lookup = from_name

    @classmethod
    def _create(cls, st: Store, name: str, size: int, chunk_size: int,
                encrypt: bool) -> "Volume":
        info = _lib.VolInfo()
        fn = lib.volstore_create_encrypted if encrypt else lib.volstore_create
        st.call(fn, fsenc(name), size, chunk_size, byref(info),
                filename=name)
        try:
            _format(st, name)
        except BaseException:
            # Leave nothing half made: the name goes, gc takes the rest.
            with st.msgs.capture():
                lib.volstore_delete(st.vs, fsenc(name))
            raise
        return cls(st, name)

    @classmethod
    def create(cls, name: str, *, size: int = DEFAULT_SIZE,
               chunk_size: int = 0, store: Optional[str] = None,
               key_file: Optional[PathLike] = None,
               encrypt: bool = False) -> "Volume":
        """Create a volume holding an empty ext4 filesystem: size bytes
        (thin: default 1 TiB), chunk_size a power of two from 64 KiB to
        64 MiB (0: 1 MiB).  With a key file every new volume is
        encrypted; encrypt=True insists on one.  FileExistsError if the
        name is taken."""
        st = Store(store, key_file)
        return cls._create(st, name, size, chunk_size, encrypt)

    @classmethod
    @contextlib.contextmanager
    def ephemeral(cls, *, size: int = DEFAULT_SIZE, chunk_size: int = 0,
                  store: Optional[str] = None,
                  key_file: Optional[PathLike] = None) -> Iterator["Volume"]:
        """A new volume with a random name, deleted when the with block
        ends, however it ends (its data goes at the store's next gc)."""
        st = Store(store, key_file)
        vol = cls._create(st, "ephemeral-" + secrets.token_hex(8), size,
                          chunk_size, False)
        try:
            yield vol
        finally:
            st.call(lib.volstore_delete, fsenc(vol.name), filename=vol.name)

    @staticmethod
    def delete(name: str, *, store: Optional[str] = None) -> None:
        """Delete a volume's name (its data goes at the next gc)."""
        Store(store).call(lib.volstore_delete, fsenc(name), filename=name)

    @staticmethod
    def rename(old_name: str, new_name: str, *,
               store: Optional[str] = None) -> None:
        """Rename a volume (FileExistsError if new_name is taken)."""
        Store(store).call(lib.volstore_rename, fsenc(old_name),
                          fsenc(new_name), filename=new_name)

    @staticmethod
    def list(*, store: Optional[str] = None) -> "list[VolumeInfo]":
        """Every volume of the store, in name order."""
        out: list[VolumeInfo] = []

        def one(_o: Optional[int], i: "ctypes._Pointer") -> int:
            out.append(_info(i.contents))
            return 0
        fn = _lib.INFO_FN(one)
        Store(store).call(lib.volstore_list, fn, None)
        return out

    # ---- this volume ----------------------------------------------------

    def info(self) -> VolumeInfo:
        """Size, chunk size, head version, space used, encryption."""
        i = _lib.VolInfo()
        self._store.call(lib.volstore_info, fsenc(self.name), byref(i),
                         filename=self.name)
        return _info(i)

    def versions(self) -> "list[VersionInfo]":
        """The kept versions, oldest first."""
        out: list[VersionInfo] = []

        def one(_o: Optional[int], p: "ctypes._Pointer") -> int:
            v = p.contents
            out.append(VersionInfo(
                version=v.seq, parent=v.parent, time=v.time_ns / 1e9,
                host=(v.host or b"").decode("utf-8", "backslashreplace"),
                pid=v.pid,
                message=(v.message or b"").decode("utf-8",
                                                  "backslashreplace"),
                overwrote=v.overwrote, chunks=v.chunks,
                bytes_stored=v.bytes_stored))
            return 0
        fn = _lib.VERSION_FN(one)
        self._store.call(lib.volstore_versions, fsenc(self.name), fn, None,
                         filename=self.name)
        return out

    def snapshot(self, name: str, *, version: Optional[int] = None) -> None:
        """Name a version (default: the newest), keeping it from gc."""
        self._store.call(lib.volstore_snapshot_create, fsenc(self.name),
                         fsenc(name), version or 0, filename=name)

    def snapshots(self) -> "dict[str, int]":
        """Snapshot names and the versions they pin."""
        out: dict[str, int] = {}

        def one(_o: Optional[int], s: bytes, seq: int) -> int:
            out[s.decode()] = seq
            return 0
        fn = _lib.SNAPSHOT_FN(one)
        self._store.call(lib.volstore_snapshot_list, fsenc(self.name), fn,
                         None, filename=self.name)
        return out

    def delete_snapshot(self, name: str) -> None:
        """Remove a snapshot name (the version stays while kept)."""
        self._store.call(lib.volstore_snapshot_delete, fsenc(self.name),
                         fsenc(name), filename=name)

    def fork(self, new_name: str, *, version: Optional[int] = None,
             snapshot: Optional[str] = None) -> "Volume":
        """A new volume whose first version is this one's (newest, or
        version= / snapshot=); nothing is copied."""
        ref = vol_ref(version, snapshot)
        info = _lib.VolInfo()
        self._store.call(lib.volstore_fork, fsenc(self.name), byref(ref),
                         fsenc(new_name), byref(info), filename=new_name)
        return Volume(self._store, new_name)

    # ---- files ------------------------------------------------------------

    def _fs(self, *, writable: bool = False, version: Optional[int] = None,
            snapshot: Optional[str] = None) -> Fs:
        return Fs(self._store, self.name, writable=writable,
                  version=version, snapshot=snapshot)

    def iterdir(self, path: str = "/", *, recursive: bool = False,
                version: Optional[int] = None,
                snapshot: Optional[str] = None) -> Iterator[FileEntry]:
        """The entries under path (path itself if it is not a directory),
        lazily: one directory is read at a time; with recursive, each
        directory is followed by what it holds."""
        with self._fs(version=version, snapshot=snapshot) as fs:
            st = fs.lstat(path)
            if not _stat.S_ISDIR(st.mode):
                target = fs.readlink(path) if _stat.S_ISLNK(st.mode) else ""
                yield _entry(path, st, target)
                return
            todo = [_rel(path)]
            while todo:
                d = todo.pop()
                below = []
                for name, est, target in fs.list("/" + d):
                    p = d + "/" + name if d else name
                    e = _entry(p, est, target)
                    yield e
                    if recursive and e.type == FileEntryType.DIRECTORY:
                        below.append(p)
                todo.extend(reversed(below))

    def listdir(self, path: str = "/", *, recursive: bool = False,
                version: Optional[int] = None,
                snapshot: Optional[str] = None) -> "list[FileEntry]":
        """iterdir as a list."""
        return list(self.iterdir(path, recursive=recursive, version=version,
                                 snapshot=snapshot))

    def read_file(self, path: str, *, version: Optional[int] = None,
                  snapshot: Optional[str] = None,
                  piece: int = READ_PIECE) -> FileReader:
        """The bytes of a regular file (through symlinks) as an iterator
        of pieces of at most piece bytes; memory stays bounded whatever
        the file's size.  Errors for a missing path or a directory are
        raised here, not at the first piece."""
        fs = self._fs(version=version, snapshot=snapshot)
        try:
            st = fs.stat(path)
            if st is None:
                raise FileNotFoundError(errno.ENOENT, "no such file in "
                                        "volume %s" % self.name, path)
            if _stat.S_ISDIR(st.mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory",
                                        path)
        except BaseException:
            fs.close()
            raise
        return FileReader(fs, path, piece)

    def read_file_into_fileobj(self, path: str, fileobj: BinaryIO, *,
                               version: Optional[int] = None,
                               snapshot: Optional[str] = None) -> int:
        """Write a file's bytes to fileobj; returns how many."""
        n = 0
        with self.read_file(path, version=version,
                            snapshot=snapshot) as reader:
            for piece in reader:
                fileobj.write(piece)
                n += len(piece)
        return n

    def batch_upload(self, force: bool = False, *,
                     message: Optional[str] = None) -> Batch:
        """with vol.batch_upload() as batch: batch.put_file(...) ...
        publishes one version at the end.  An existing file without
        force raises FileExistsError naming it; nothing is published."""
        return Batch(self, force, message)

    def _write(self, message: str, ops: Iterable[Any]) -> int:
        with self._fs(writable=True) as fs:
            for fn, args, name in ops:
                fs.exists.clear()
                r = fs.call(fn, *args, filename=name, quiet=(errno.EEXIST,))
                if r < 0:
                    fs.raise_exists(name)
            return int(fs.commit(message).seq)

    def remove_file(self, path: str, recursive: bool = False) -> int:
        """Remove a file, symlink or empty directory (with recursive, a
        tree) as a new version; returns it."""
        flags = _lib.EXTFS_RECURSIVE if recursive else 0
        return self._write("python remove_file %s" % path,
                           [(lib.extfs_rm, (fsenc(path), flags), path)])

    def copy_files(self, src_paths: "Iterable[str]", dst_path: str, *,
                   force: bool = False) -> int:
        """Copy files and trees inside the volume, as one new version:
        one source to dst_path (into it if it is a directory), several
        into the directory dst_path.  Returns the version."""
        srcs = [s for s in src_paths]
        flags = _lib.EXTFS_RECURSIVE | (_lib.EXTFS_FORCE if force else 0)
        ops: list[Any] = []
        if len(srcs) > 1:
            ops.append((lib.extfs_mkdir, (fsenc(dst_path),
                                          _lib.EXTFS_PARENTS), dst_path))
        ops += [(lib.extfs_cp, (fsenc(s), fsenc(dst_path), flags), s)
                for s in srcs]
        return self._write("python copy_files", ops)

    # ---- an attachment of this volume ------------------------------------

    def _attachment(self, mountpoint: Optional[PathLike]) -> _Attachment:
        atts, why = _attachments(self.name, self._store.msgs)
        if mountpoint is not None:
            want = os.path.realpath(os.fspath(mountpoint))
            atts = [a for a in atts if a.mountpoint == want]
        elif len(atts) > 1:
            same = [a for a in atts if a.store == self._store.url]
            atts = same or atts
        if not atts:
            raise NotAttachedError(
                errno.ENOENT, "volume %s is not attached here%s (run under "
                "s3vol run, or s3vol attach it)%s" % (
                    self.name, " at %s" % os.fspath(mountpoint)
                    if mountpoint is not None else "",
                    ": " + why if why else ""))
        if len(atts) > 1:
            raise NotAttachedError(
                errno.EEXIST, "volume %s is attached at %s: say which with "
                "mountpoint=" % (self.name,
                                 ", ".join(a.mountpoint for a in atts)))
        return atts[0]

    def commit(self, message: Optional[str] = None, *,
               mountpoint: Optional[PathLike] = None) -> int:
        """Publish the changes made under the volume's mountpoint (this
        process runs with the volume attached); returns the version.
        ConflictError if another writer published first (the changes
        stay in the attachment's cache)."""
        a = self._attachment(mountpoint)
        if a.readonly:
            raise PermissionError(errno.EROFS, "%s is attached read-only" %
                                  a.mountpoint, a.mountpoint)
        seq = c_uint64()
        msgs = self._store.msgs
        with msgs.capture() as m:
            msgs.check(lib.att_commit(byref(a.rec),
                                      message.encode() if message else None,
                                      byref(seq), byref(msgs.log)), m,
                       conflict=True)
        return seq.value

    def reload(self, *, mountpoint: Optional[PathLike] = None) -> None:
        """Move the attachment to the volume's newest version, committing
        its changes first: runs `s3vol reload MOUNTPOINT` (it remounts;
        needs root, and no file open under the mountpoint)."""
        a = self._attachment(mountpoint)
        p = subprocess.run([_lib.cli_path(), "reload", a.mountpoint],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, check=False)
        if p.returncode != 0:
            text = " ".join(p.stderr.split("\n")).strip() or \
                "s3vol reload exited %d" % p.returncode
            raise error_for(-_RELOAD_ERRNO.get(p.returncode, errno.EIO),
                            [text], filename=a.mountpoint, conflict=True)


# s3vol(1)'s exit codes as errno values, for reload's exceptions.
_RELOAD_ERRNO = {2: errno.EINVAL, 3: errno.ENOENT, 4: errno.EEXIST,
                 5: errno.EBUSY, 6: errno.EIO, 7: errno.EPERM,
                 10: errno.ENOKEY}

