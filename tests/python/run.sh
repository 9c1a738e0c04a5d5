#!/bin/sh
# ctest's python_package test: install tools/python into a venv under the
# build folder, then run the pytest suite.   run.sh SOURCE_DIR BUILD_DIR
# A missing Debian package is a failure naming it, never a skip.
set -eu
src=$1
build=$2
venv=$build/python-venv
for m in venv ensurepip setuptools wheel pytest mypy; do
  /usr/bin/python3 -c "import $m" 2>/dev/null || {
    case $m in ensurepip) pkg=python3-venv ;; mypy) pkg=mypy ;; *) pkg=python3-$m ;; esac
    echo "FAIL: /usr/bin/python3 cannot import $m: install the Debian package '$pkg' (tools/install-deps.sh)" >&2
    exit 1
  }
done
/usr/bin/python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || {
  echo "FAIL: Python.h not found: install the Debian package 'python3-dev' (tools/install-deps.sh)" >&2
  exit 1
}
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"

export RINGFETCH_BUILD_DIR="$build/python-build"
case "${RF_SANITIZE:-OFF}" in
  ON|on|1|TRUE|true|YES|yes)
    san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    export RINGFETCH_CFLAGS="$san -O1 -g" RINGFETCH_LDFLAGS="$san"
    sanitized=1 ;;
  *) sanitized=0 ;;
esac
"$venv/bin/pip" install -q --no-build-isolation --no-index --no-deps \
  --disable-pip-version-check --root-user-action=ignore "$src/tools/python"

cd "$build"
if [ "$sanitized" = 1 ]; then
  cc=${CC:-gcc}
  # CPython itself is not instrumented: preload the runtimes; its own
  # allocations at exit are not ours to judge (no leak check)
  LD_PRELOAD="$($cc -print-file-name=libasan.so) $($cc -print-file-name=libubsan.so)"
  export LD_PRELOAD
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  export RF_PY_SANITIZED=1
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$src/tests/python"
