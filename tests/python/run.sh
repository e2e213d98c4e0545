#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Python API's tests: install ./python offline into a private venv
# exactly as docs/python.md says (python3 -m venv --system-site-packages
# V && V/bin/pip install --no-build-isolation ./python), then run
# Debian's pytest with that venv's python on tests/python, against the
# build's libs3vol.so (S3VOL_LIB) and s3vol (S3VOL_CLI).
#
#   BUILD=build-xx bash tests/python/run.sh [PYTEST ARGS...]
set -euo pipefail
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH LC_ALL=C.UTF-8
unset PYTHONPATH PYTHONHOME
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
[ -e "$BUILD/libs3vol.so" ] || { echo "FAIL: no $BUILD/libs3vol.so (make)"; exit 1; }

T=$(mktemp -d /tmp/s3vol-pytest.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Others may traverse it: the non-root test runs the venv as another user.
chmod 755 "$T"
# A copy of the package, so that pip's build files stay out of the tree.
mkdir "$T/src"
cp -r "$SRCDIR/python" "$T/src/python"
rm -rf "$T/src/python/build" "$T/src/python/"*.egg-info
(cd "$T/src" &&
 /usr/bin/python3 -m venv --system-site-packages "$T/V" &&
 "$T/V/bin/pip" install --quiet --no-build-isolation --no-index ./python) ||
  { echo "FAIL: the offline install of ./python"; exit 1; }
chmod -R a+rX "$T/V"

export S3VOL_LIB=$BUILD/libs3vol.so S3VOL_CLI=$BUILD/s3vol PYTHONDONTWRITEBYTECODE=1
export S3VOL_TEST_PYTHON=$T/V/bin/python
cd "$SRCDIR/tests/python"
# Not the source tree's package: the venv's.
"$T/V/bin/python" -c 'import s3vol, sys; sys.exit(s3vol.__file__.startswith("'"$T/V"'") is False)' ||
  { echo "FAIL: the venv does not import its own s3vol"; exit 1; }
rc=0
"$T/V/bin/python" -m pytest -p no:cacheprovider -rs -q \
  --basetemp="$T/pytest" "$@" || rc=$?
exit $rc
