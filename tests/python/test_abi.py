# SPDX-License-Identifier: BSD-3-Clause
"""The ctypes structs of s3vol/_lib.py match include/s3vol/: sizes and
field offsets as the C compiler lays them out."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

from conftest import need
from s3vol import _lib

SRCDIR = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                      os.pardir, os.pardir))
# Python name -> C struct; every field is compared.
STRUCTS = {
    "Log": "s3vol_log", "ObjstoreConfig": "objstore_config",
    "VolstoreConfig": "volstore_config", "VolInfo": "vol_info",
    "VolRef": "vol_ref", "VolVersion": "vol_version",
    "Notify": "extfs_notify", "Progress": "extfs_progress",
    "ExtfsConfig": "extfs_config", "ExtfsStat": "extfs_stat",
    "ExtfsSpace": "extfs_space", "ExtfsCommitResult": "extfs_commit_result",
    "Attachment": "attachment", "Key": "s3vol_key",
    "ImportProgress": "import_progress",
}


def test_struct_layouts(tmp_path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    need(cc is not None, "no C compiler: the struct layouts not checked")
    lines = ['#include <stddef.h>', '#include <stdio.h>',
             '#include "s3vol/volume.h"', '#include "s3vol/extfs.h"',
             '#include "s3vol/attach.h"', '#include "s3vol/crypt.h"',
             '#include "s3vol/import.h"', "int main (void) {"]
    want = []
    for py, c in STRUCTS.items():
        cls = getattr(_lib, py)
        lines.append('printf ("%%zu\\n", sizeof (struct %s));' % c)
        want.append(ctypes.sizeof(cls))
        for f in cls._fields_:
            lines.append('printf ("%%zu\\n", offsetof (struct %s, %s));'
                         % (c, f[0]))
            want.append(getattr(cls, f[0]).offset)
    lines.append("return 0; }")
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "abi"
    subprocess.run([cc, "-std=gnu11", "-D_GNU_SOURCE", "-I",
                    os.path.join(SRCDIR, "include"), "-o", str(exe),
                    str(src)], check=True)
    got = [int(x) for x in subprocess.run([str(exe)], capture_output=True,
                                          text=True, check=True)
           .stdout.split()]
    assert got == want
