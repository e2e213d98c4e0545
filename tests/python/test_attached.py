# SPDX-License-Identifier: BSD-3-Clause
"""vol.commit() and vol.reload() from a program that runs under s3vol
run (needs root, FUSE and loop devices: skipped loudly without).  No
background commits (--commit-interval 0): the versions the program's
commits publish are known."""
from __future__ import annotations

import os
import subprocess
import sys

import s3vol
from conftest import SMALL, can_mount, cli, need

INSIDE = r"""
import io, os, sys, s3vol
store, data, ro = sys.argv[1:4]
os.chdir("/")                       # reload refuses a busy mountpoint
work = s3vol.Volume.from_name("work", store=store)
other = s3vol.Volume.from_name("other", store=store)
with open(data + "/a", "w") as f:
    f.write("first")
seq = work.commit("from python")
assert b"".join(work.read_file("/a", version=seq)) == b"first", seq
print("committed", seq)
with open(data + "/b", "w") as f:
    f.write("second")
seq2 = work.commit(mountpoint=data)
assert seq2 == seq + 1, (seq, seq2)
assert [e.path for e in work.listdir("/")] == ["a", "b", "lost+found"]
try:
    work.commit(mountpoint="/nowhere")
    raise SystemExit("commit at /nowhere did not fail")
except s3vol.NotAttachedError as e:
    print("not attached:", e)
try:
    other.commit()
    raise SystemExit("commit of a read-only attachment did not fail")
except PermissionError as e:
    print("read-only:", e)
# A version of "other" published meanwhile: reload moves /ro to it.
with other.batch_upload() as b:
    b.put_file(io.BytesIO(b"from outside"), "/new")
assert not os.path.exists(ro + "/new")
other.reload()
print("reloaded:", open(ro + "/new").read())
sys.exit(7)
"""


def test_commit_reload_in_run(store: str, tmp_path) -> None:
    need(can_mount(), "s3vol run needs root, /dev/fuse and loop devices: "
         "commit/reload inside s3vol run not tested")
    s3vol.Volume.create("work", size=SMALL, store=store)
    other = s3vol.Volume.create("other", size=SMALL, store=store)
    data, ro = tmp_path / "data", tmp_path / "ro"
    data.mkdir()
    ro.mkdir()
    py = os.environ.get("S3VOL_TEST_PYTHON", sys.executable)
    p = subprocess.run(
        [cli(), "--store", store, "run", "--commit-interval", "0",
         "-v", "work:%s" % data,
         "-v", "other:%s:ro" % ro, "--", py, "-c", INSIDE, store,
         str(data), str(ro)],
        capture_output=True, text=True, timeout=300, check=False)
    print(p.stdout, p.stderr)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "reloaded: from outside" in p.stdout
    assert "not attached:" in p.stdout and "read-only:" in p.stdout
    work = s3vol.Volume.from_name("work", store=store)
    assert b"".join(work.read_file("/b")) == b"second"
    assert any(v.message == "from python" for v in work.versions())
    assert other.info().head == 3       # mkfs, then the put inside
