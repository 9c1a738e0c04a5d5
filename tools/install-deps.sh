#!/bin/sh
# Installs everything ringfetch needs to build, test and benchmark, from
# Debian 12's archive only. Safe to run again. Needs root (or sudo).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS="cmake make gcc pkg-config ca-certificates openssl
liburing-dev android-libboringssl-dev node-llhttp libc-ares-dev
zlib1g-dev libbrotli-dev libzstd-dev
python3 curl nginx libnginx-mod-http-echo dnsmasq-base iproute2
wrk nghttp2-client clang chromium
brotli zstd tinyproxy"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
