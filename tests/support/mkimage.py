# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: a random sparse raw image.

    python3 mkimage.py FILE SIZE CHUNK SEED

Per CHUNK-sized piece: 40% left as a hole, 10% written with explicit
zeros (data on disk, zero bytes), 30% full of random bytes, 20% with a
few random runs of random bytes (mostly zeros).
"""
import os
import random
import sys

path, size, chunk, seed = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                           int(sys.argv[4]))
rnd = random.Random(seed)
with open(path, "wb") as f:
    f.truncate(size)
    for off in range(0, size, chunk):
        k = rnd.random()
        if k < 0.4:
            continue
        if k < 0.5:
            data = bytes(chunk)
        elif k < 0.8:
            data = rnd.randbytes(chunk)
        else:
            data = bytearray(chunk)
            for _ in range(rnd.randint(1, 4)):
                n = rnd.randint(1, chunk // 8)
                at = rnd.randrange(0, chunk - n + 1)
                data[at:at + n] = rnd.randbytes(n)
        f.seek(off)
        f.write(data)
    f.flush()
    os.fsync(f.fileno())
