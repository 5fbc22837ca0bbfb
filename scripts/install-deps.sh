#!/usr/bin/env bash
# Installs the Debian 12 packages Rampart needs to build, run and test,
# but only those that are missing, so a prepared machine does no apt work.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libevent-dev libssl-dev libsqlite3-dev libsodium-dev libinih-dev
  zlib1g-dev libunistring-dev libcrypt-dev libcmocka-dev
  libjemalloc-dev  # the server's allocator (CMakeLists.txt RAMPART_JEMALLOC)
  python3 python3-pytest openssl curl isync nmap procps
  dovecot-imapd
  libjwt-dev libjansson-dev libpwquality-dev cracklib-runtime libmaxminddb-dev
  libcurl4-openssl-dev libmaxmind-db-writer-perl fail2ban python3-jwt python3-cryptography python3-openssl
  postfix  # lmtp: tests/integration/test_postfix_lmtp.py runs a private instance
  chromium  # status: the status page rendered headless (tests/integration/test_status.py)
  strace  # durable: tests/integration/test_durability.py watches the server's fsyncs
)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Keep Debian's service scripts from starting dovecot: the benchmark starts
# its own throwaway instance.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
