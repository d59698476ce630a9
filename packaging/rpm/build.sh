#!/bin/sh
# Build target/rpm/RPMS/ARCH/pam-totp-VERSION-1.ARCH.rpm with rpmbuild (on
# Debian: apt-get install rpm), from the binaries `make build` made (run
# from `make rpm`).
set -eu
umask 022
cd "$(dirname "$0")/../.."
command -v rpmbuild >/dev/null || {
    echo "make rpm: rpmbuild not found (on Debian: apt-get install rpm)" >&2
    exit 1
}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rm -rf target/rpm
mkdir -p target/rpm
rpmbuild -bb --quiet \
    --define "_topdir $PWD/target/rpm" \
    --define "source_dir $PWD" \
    --define "pkg_version $version" \
    --define "release_dir ${RELEASE_DIR:-target/release}" \
    --target "$(uname -m)" \
    packaging/rpm/pam-totp.spec
find target/rpm/RPMS -name '*.rpm' -printf 'built %p\n'
