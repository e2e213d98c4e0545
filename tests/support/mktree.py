# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: a random tree of files.

    python3 mktree.py DIR SEED [BIG_MIB]

Directories a few levels deep; files from empty to 1 MiB (random bytes,
text, runs of zeros); one BIG_MIB (default 32) file of random bytes; a
sparse file; symlinks (to files, to directories, dangling); hard links;
assorted modes.
"""
import os
import random
import sys

root, seed = sys.argv[1], int(sys.argv[2])
big = int(sys.argv[3]) if len(sys.argv) > 3 else 32
rnd = random.Random(seed)
os.makedirs(root, exist_ok=True)
dirs = [root]
files = []
for i in range(40):
    d = os.path.join(rnd.choice(dirs), "d%02d" % i)
    os.mkdir(d)
    dirs.append(d)
for i in range(300):
    p = os.path.join(rnd.choice(dirs), "f%03d%s" % (i, rnd.choice(
        ["", ".txt", ".bin", ".dat"])))
    k = rnd.random()
    with open(p, "wb") as f:
        if k < 0.1:
            pass
        elif k < 0.5:
            f.write(("line %d of %s\n" % (rnd.randrange(10**6), p)).encode()
                    * rnd.randint(1, 500))
        elif k < 0.9:
            f.write(rnd.randbytes(rnd.randint(1, 256 << 10)))
        else:
            f.write(bytes(rnd.randint(1, 1 << 20)))
    os.chmod(p, rnd.choice([0o644, 0o600, 0o755, 0o444]))
    files.append(p)
with open(os.path.join(root, "big.bin"), "wb") as f:
    for _ in range(big):
        f.write(rnd.randbytes(1 << 20))
with open(os.path.join(root, "sparse.img"), "wb") as f:
    f.truncate(256 << 20)
    for _ in range(8):
        f.seek(rnd.randrange(0, 256 << 20))
        f.write(rnd.randbytes(4096))
for i in range(20):
    target = rnd.choice(files)
    os.symlink(os.path.relpath(target, root), os.path.join(root, "l%02d" % i))
os.symlink("d00", os.path.join(root, "dirlink"))
os.symlink("does/not/exist", os.path.join(root, "dangling"))
for i in range(10):
    src = rnd.choice(files)
    os.link(src, os.path.join(rnd.choice(dirs), "h%02d" % i))
os.mkfifo(os.path.join(root, "fifo"))
