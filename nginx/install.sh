#!/usr/bin/env bash
# Makes sure nginx and openssl are installed (for `make https` and the tests). Installs them with
# apt-get when running as root; otherwise says what to run. Never leaves a system nginx running:
# HeyGem starts its own nginx with its own config, and Debian's package would otherwise take port 80.
set -euo pipefail

say() { echo "[nginx] $*"; }
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  say "${missing[*]} missing. Install it first: sudo apt-get install ${missing[*]}"; exit 1
fi
command -v apt-get >/dev/null || { say "${missing[*]} missing and this is not a Debian/Ubuntu system: install it yourself."; exit 1; }

# policy-rc.d answering 101 keeps the package's postinst from starting the system service.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] \
   || ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
