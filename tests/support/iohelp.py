# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: small I/O jobs against a model image (nbdsh).

    nbdsh_script NAME iohelp.py COMMAND MODEL ARGS...

MODEL is a sparse file the size of the volume holding what the volume
should hold.

  write MODEL OFF LEN SEED   write LEN random bytes at OFF (and into MODEL)
  fill MODEL OFF STEP SEED [END]
                             write STEP-byte blocks from OFF on until a
                             write fails or END; print "wrote N errno E"
                             (E: the failure's errno name, or "none")
  check MODEL [OFF LEN]      read everything (or LEN bytes at OFF) back;
                             fail on a difference
  error MODEL OFF LEN        reading LEN bytes at OFF must fail: print
                             the errno name
  chunks MODEL CHUNK         read chunk by chunk; print "bad OFF ERRNO"
                             for each that fails, compare the others
"""
import errno
import os
import random
import sys

import nbd

cmd, model = sys.argv[1], sys.argv[2]
args = [int(a) for a in sys.argv[3:]]
size = h.get_size()
if not os.path.exists(model):
    with open(model, "wb") as f:
        f.truncate(size)


def model_write(off, data):
    with open(model, "r+b") as f:
        f.seek(off)
        f.write(data)


def model_read(off, n):
    with open(model, "rb") as f:
        f.seek(off)
        return f.read(n)


def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else str(e)


if cmd == "write":
    off, n, seed = args
    data = random.Random(seed).randbytes(n)
    h.pwrite(data, off)
    model_write(off, data)
elif cmd == "fill":
    off, step, seed = args[:3]
    end = args[3] if len(args) > 3 else size
    rnd = random.Random(seed)
    wrote = 0
    failure = "none"
    while off + step <= end:
        data = rnd.randbytes(step)
        try:
            h.pwrite(data, off)
        except nbd.Error as e:
            failure = err_name(e)
            break
        model_write(off, data)
        off += step
        wrote += step
    print("wrote %d errno %s" % (wrote, failure))
elif cmd == "check":
    start, length = args if args else (0, size)
    for off in range(start, start + length, 4 << 20):
        n = min(4 << 20, start + length - off)
        if h.pread(n, off) != model_read(off, n):
            sys.exit("data at %d..%d differs from the model" % (off, off + n))
    print("%d bytes at %d match" % (length, start))
elif cmd == "error":
    off, n = args
    try:
        h.pread(n, off)
        sys.exit("reading %d bytes at %d worked" % (n, off))
    except nbd.Error as e:
        print(err_name(e))
elif cmd == "chunks":
    (chunk,) = args
    for off in range(0, size, chunk):
        try:
            got = h.pread(chunk, off)
        except nbd.Error as e:
            print("bad %d %s" % (off, err_name(e)))
            continue
        if got != model_read(off, chunk):
            sys.exit("chunk at %d differs from the model" % off)
else:
    sys.exit("unknown command " + cmd)
