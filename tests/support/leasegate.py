# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: hold a process at its open of a file.

    python3 leasegate.py FILE STATUS [SECONDS]

Takes a write lease on FILE (fcntl F_SETLEASE; the caller owns FILE or
is root), then writes "ready" to the file STATUS.  Another process that
opens FILE blocks in open(2) until the lease is released: when that
happens (the kernel sends SIGIO), STATUS becomes "opened".  On SIGUSR1
the lease is released, the opener goes on, STATUS becomes "released"
and this exits.  A test thus knows that the opener got as far as the
open, and decides when it goes on: a barrier, with no timing guesses.

It gives up after SECONDS (default 120) of waiting for either: exit 1
(and the kernel releases an unanswered lease by itself after
/proc/sys/fs/lease-break-time seconds anyway).
"""
import fcntl
import os
import signal
import sys

F_SETLEASE = 1024           # F_LINUX_SPECIFIC_BASE + 0
F_GETLEASE = 1025


def status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.rename(tmp, path)


def main():
    path, out = sys.argv[1], sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    sigs = [signal.SIGIO, signal.SIGUSR1]
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    fcntl.fcntl(fd, F_SETLEASE, fcntl.F_WRLCK)
    status(out, "ready")
    opened = False
    while True:
        got = signal.sigtimedwait(sigs, limit)
        if got is None:
            sys.exit("leasegate: %s: nothing happened in %g s" % (path, limit))
        if got.si_signo == signal.SIGIO and not opened:
            # The lease is being broken: someone is in open(FILE).
            assert fcntl.fcntl(fd, F_GETLEASE) != fcntl.F_WRLCK
            opened = True
            status(out, "opened")
        elif got.si_signo == signal.SIGUSR1:
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
            os.close(fd)
            status(out, "released")
            return


if __name__ == "__main__":
    main()
