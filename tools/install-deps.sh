#!/bin/sh
# Installs everything ringfetch needs to build, test and benchmark, from
# Debian 12's archive, plus Webrecorder's warcio (a WARC reader the tests use)
# from the npm registry. Safe to run again. Needs root (or sudo).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS="cmake make gcc pkg-config ca-certificates openssl
liburing-dev android-libboringssl-dev node-llhttp libc-ares-dev libnghttp2-dev
zlib1g-dev libbrotli-dev libzstd-dev libhiredis-dev
python3 curl nginx libnginx-mod-http-echo dnsmasq-base iproute2
wrk nghttp2-client clang chromium
brotli zstd tinyproxy valgrind redis-server
python3-dev python3-setuptools python3-wheel python3-venv python3-pytest mypy"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm run Webrecorder's warcio, the independent WARC reader of the
# tests (tests/integration/warc_read.js). Judged by the commands, not by
# package names: a machine with another nodejs build (that ships npm and
# conflicts with Debian's npm package) keeps it.
command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# warcio from the npm registry, pinned, into a prefix the tests look in
# (warc_read.js: $RF_NODE_PREFIX, default /opt/ringfetch-node).
WARCIO_VERSION=2.4.11
NODE_PREFIX=${RF_NODE_PREFIX:-/opt/ringfetch-node}
install_warcio() {
  pj="$NODE_PREFIX/node_modules/warcio/package.json"
  if [ -f "$pj" ] && grep -q "\"version\": \"$WARCIO_VERSION\"" "$pj"; then
    return 0
  fi
  $SUDO mkdir -p "$NODE_PREFIX"
  $SUDO npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-update-notifier \
    --loglevel=error "warcio@$WARCIO_VERSION" >/dev/null
}

if [ -z "$missing" ]; then
  install_warcio
  exit 0
fi

# Debian's nginx package would start a system nginx on port 80; our tests
# start their own. Keep package scripts from starting services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
install_warcio
