#!/usr/bin/env bash
# `make bench`: pam_totp side by side with google-authenticator-libpam and
# pam_oath. Installs what is missing (Debian), builds the module in release
# mode and runs benches/compare.rs, which prints one table (and writes it to
# target/bench/results.md). Needs root: it creates users pt7-*, PAM services
# /etc/pam.d/pt7-* and sshd instances on 127.0.0.1, and removes them again.
#
# BENCH_QUICK=1 runs a shorter, smaller version (for trying changes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" != 0 ]; then
    echo "make bench needs root (it creates test users, PAM services and sshd instances)." >&2
    exit 1
fi

packages=(libpam-google-authenticator libpam-oath pamtester valgrind oathtool
          openssh-server openssh-client time passwd libpam0g-dev postgresql openssl
          binutils pgbouncer)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# The module and the command in release mode (LTO), where the bench looks
# for them; cargo bench then builds the bench itself with the same profile.
cargo build --release --locked
exec cargo bench --locked --bench compare
