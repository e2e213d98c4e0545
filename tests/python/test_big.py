# SPDX-License-Identifier: BSD-3-Clause
"""A 1 GiB file read as a stream, in bounded memory (directory store:
the RGW's share of the suite stays small)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import s3vol

GIB = 1 << 30
# The reader's peak resident size: the interpreter, the library and its
# caches, a few pieces; far below the 1 GiB it streams.
RSS_LIMIT = 200 << 20

READER = r"""
import hashlib, sys, s3vol
vol = s3vol.Volume.from_name("big", store=sys.argv[1])
h = hashlib.sha256()
n = 0
for piece in vol.read_file("/big"):
    h.update(piece)
    n += len(piece)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(n, h.hexdigest(), int(hwm[0].split()[1]) * 1024)
"""


def test_1gib_streamed_read(dir_store: str, tmp_path) -> None:
    # 1 GiB of 16 random MiB in turn: incompressible, but the store keeps
    # few distinct chunks.
    blocks = [os.urandom(1 << 20) for _ in range(16)]
    local = tmp_path / "big"
    h = hashlib.sha256()
    with open(local, "wb") as f:
        for i in range(GIB >> 20):
            b = blocks[(i * 7) % 16]
            f.write(b)
            h.update(b)
    vol = s3vol.Volume.create("big", size=2 * GIB, store=dir_store)
    t0 = time.monotonic()
    with vol.batch_upload() as batch:
        batch.put_file(local, "/big")
    t1 = time.monotonic()
    os.unlink(local)
    assert vol.listdir("/big")[0].size == GIB
    p = subprocess.run([os.environ.get("S3VOL_TEST_PYTHON", sys.executable),
                        "-c", READER, dir_store], capture_output=True,
                       text=True, check=False)
    t2 = time.monotonic()
    assert p.returncode == 0, p.stderr
    n, digest, hwm = p.stdout.split()
    print("1 GiB: put+commit %.1fs, streamed read %.1fs, reader peak RSS "
          "%d MiB" % (t1 - t0, t2 - t1, int(hwm) >> 20))
    assert int(n) == GIB and digest == h.hexdigest()
    assert int(hwm) < RSS_LIMIT, "peak RSS %d MiB" % (int(hwm) >> 20)
