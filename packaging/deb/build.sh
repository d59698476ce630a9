#!/bin/sh
# Build target/pam-totp_VERSION_ARCH.deb with dpkg-deb from a tree staged by
# `make install-files` (run from `make deb`, after `make build man`).
set -eu
umask 022
cd "$(dirname "$0")/../.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
root=target/deb/root
out=target/pam-totp_${version}_${arch}.deb

rm -rf target/deb
mkdir -p "$root/DEBIAN"
# /lib/MULTIARCH/security, as Debian 12's own PAM modules (libpam-modules,
# libpam-google-authenticator) list it: on merged-/usr systems it is the same
# directory as /usr/lib/MULTIARCH/security, and listing the /usr spelling
# would make dpkg think the directory ours alone ("not empty" on purge).
make --no-print-directory install-files DESTDIR="$PWD/$root" PREFIX=/usr \
    PAMDIR="/lib/$multiarch/security" >/dev/null
strip --strip-unneeded "$root/lib/$multiarch/security/pam_totp.so" \
    "$root/lib/$multiarch/security/pam_totp_postgres.so" "$root/usr/bin/pam-totp"
gzip -9n "$root"/usr/share/man/man*/*
install -m 0644 packaging/deb/copyright "$root/usr/share/doc/pam-totp/copyright"

# Shared library dependencies, as dpkg-shlibdeps computes them for Debian packages.
mkdir -p target/deb/shlibdeps/debian
printf 'Source: pam-totp\n\nPackage: pam-totp\nArchitecture: any\n' >target/deb/shlibdeps/debian/control
depends=$(cd target/deb/shlibdeps &&
    dpkg-shlibdeps -O "../../../$root/lib/$multiarch/security/pam_totp.so" \
        "../../../$root/lib/$multiarch/security/pam_totp_postgres.so" \
        "../../../$root/usr/bin/pam-totp" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || depends="libc6, libgcc-s1, libpam0g"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" packaging/deb/control.in >"$root/DEBIAN/control"
echo /etc/pam-totp/config.toml >"$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' |
    sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "built $out"
