# SPDX-License-Identifier: BSD-3-Clause
"""Everything that does not mount works for a user who is not root: as
root, the test makes a user of its own (useradd) and removes it after;
run as a user already, it runs the same program directly."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import which_sbin

PROGRAM = r"""
import io, os, tempfile, s3vol
assert os.geteuid() != 0
home = os.environ["HOME"]
vol = s3vol.Volume.from_name("mine", create_if_missing=True,
                             size=256 << 20)
assert vol.store_url == "file://%s/.local/share/s3vol/store" % home
d = tempfile.mkdtemp()
with open(os.path.join(d, "f"), "w") as f:
    f.write("local")
with vol.batch_upload() as b:
    b.put_file(io.BytesIO(b"object"), "/o")
    b.put_directory(d, "/dir")
assert [e.path for e in vol.listdir("/", recursive=True)] == \
    ["dir", "lost+found", "o", "dir/f"]
assert b"".join(vol.read_file("/dir/f")) == b"local"
vol.snapshot("s")
vol.remove_file("/o")
vol.copy_files(["/dir/f"], "/g")
assert b"".join(vol.fork("copy", snapshot="s").read_file("/o")) == b"object"
assert [v.name for v in s3vol.Volume.list()] == ["copy", "mine"]
with s3vol.Volume.ephemeral(size=256 << 20) as e:
    pass
try:
    vol.commit()
    raise SystemExit("commit outside an attachment did not fail")
except s3vol.NotAttachedError:
    pass
ro_store = os.environ.get("RO_STORE")
if ro_store:
    # root's store, which this user may read but not write
    try:
        s3vol.Volume.create("x", size=256 << 20, store=ro_store)
        raise SystemExit("create in a store of root's did not fail")
    except PermissionError as e:
        print("refused:", e)
print("ok as uid", os.geteuid())
"""


def test_not_root() -> None:
    py = os.environ.get("S3VOL_TEST_PYTHON", sys.executable)
    home = tempfile.mkdtemp(prefix="s3vol-pyuser-")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": home,
           "S3VOL_LIB": os.environ["S3VOL_LIB"], "TMPDIR": home,
           "LC_ALL": "C.UTF-8"}
    user = None
    cleanup = [home]
    try:
        if os.geteuid() == 0:
            user = "s3vpy" + secrets.token_hex(4)
            subprocess.run([which_sbin("useradd"), "--system",
                            "--no-create-home", "--home-dir", home,
                            "--shell", "/usr/sbin/nologin", user],
                           check=True)
            pw = pwd.getpwnam(user)
            os.chown(home, pw.pw_uid, pw.pw_gid)
            ro = tempfile.mkdtemp(prefix="s3vol-rostore-")
            os.chmod(ro, 0o755)
            cleanup.append(ro)
            env["RO_STORE"] = "file://" + ro
            argv = [which_sbin("runuser"), "-u", user, "--", "env", "-i"] + \
                ["%s=%s" % kv for kv in env.items()] + [py, "-c", PROGRAM]
        else:
            print("not root: the program runs as this user (uid %d)" %
                  os.geteuid())
            argv = [py, "-c", PROGRAM]
        p = subprocess.run(argv, capture_output=True, text=True,
                           env=env, timeout=120, check=False)
        print(p.stdout, p.stderr)
        assert p.returncode == 0, p.stderr
        assert "ok as uid" in p.stdout and "ok as uid 0" not in p.stdout
        if user is not None:
            assert "refused:" in p.stdout
    finally:
        if user is not None:
            subprocess.run([which_sbin("userdel"), user], check=False)
            with pytest.raises(KeyError):
                pwd.getpwnam(user)
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)
