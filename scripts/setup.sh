#!/usr/bin/env bash
# Install what building and testing strata needs, from Debian's packages.
# Safe to run again: it installs only what is missing.
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang
      libzstd-dev liblz4-dev zlib1g-dev liblzma-dev libsqlite3-dev libxxhash-dev libssl-dev libcmocka-dev
      zstd xz-utils git python3)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
