# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: check an export's extent map against an image.

    nbdinfo --map --json URI | python3 checkmap.py IMAGE CHUNK

Every CHUNK-sized piece of IMAGE that is all zero must be reported as a
hole (zero), and every piece holding data must not be: the plugin maps
holes at chunk granularity.  Prints a summary.
"""
import json
import sys

image, chunk = sys.argv[1], int(sys.argv[2])
extents = json.load(sys.stdin)
with open(image, "rb") as f:
    data = f.read()
size = len(data)
zero_at = bytearray(size // chunk)          # 1: map says zero
covered = 0
for e in extents:
    off, n, typ = e["offset"], e["length"], e["type"]
    assert off == covered, "extents not contiguous at %d" % off
    covered += n
    assert off % chunk == 0 and n % chunk == 0, \
        "extent %d+%d is not chunk-aligned" % (off, n)
    for c in range(off // chunk, (off + n) // chunk):
        zero_at[c] = 1 if typ & 2 else 0
assert covered == size, "map covers %d of %d bytes" % (covered, size)
bad = []
nzero = 0
for c in range(size // chunk):
    is_zero = data[c * chunk:(c + 1) * chunk].count(0) == chunk
    nzero += is_zero
    if is_zero != bool(zero_at[c]):
        bad.append("chunk %d: image %s, map %s" % (
            c, "zero" if is_zero else "data",
            "zero" if zero_at[c] else "data"))
if bad:
    sys.exit("map and image disagree:\n  " + "\n  ".join(bad[:20]))
print("map ok: %d chunks, %d holes, %d extents" % (size // chunk, nzero,
                                                   len(extents)))
