#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when some are missing:
# `make test` on a fresh Debian machine runs this first. The list is the one
# .ci/run installs (between its test-packages markers), so there is one list.
# Without root or apt-get it only says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a packages <<<"$(sed -n '/^# test-packages-begin/,/^# test-packages-end/p' .ci/run |
    grep -v '^#' | tr '\\\n' '  ' | sed 's/apt-get install -y -q --no-install-recommends//; s/>\/dev\/null//')"
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "make test: missing packages (install them as root): ${missing[*]}" >&2
    exit 0
fi
echo "make test: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
