# pam-totp — see README.md. `make demo` and `make test` are the two entry points.

CARGO ?= cargo
PREFIX ?= /usr
DESTDIR ?=
PAMDIR ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH >/dev/null 2>&1 && echo /usr/lib/$$(dpkg-architecture -qDEB_HOST_MULTIARCH)/security || echo /usr/lib64/security)

.PHONY: all build test lint bench install clean

all: build

build:
	$(CARGO) build --release --locked

# The whole test suite: unit tests, the module through the real libpam, and
# end-to-end logins through a real sshd (those need root; CI runs as root).
# test-hooks adds a fake clock and crash points, for tests only.
test:
	$(CARGO) test --locked --features test-hooks -- --test-threads=4

# Side-by-side with google-authenticator-libpam and pam_oath (root; installs
# the Debian packages it needs). Prints the table recorded in BENCHMARKS.md.
bench:
	bench/run.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --features test-hooks -- -D warnings

install: build
	install -D -m 0644 target/release/libpam_totp.so $(DESTDIR)$(PAMDIR)/pam_totp.so
	install -D -m 0755 target/release/pam-totp $(DESTDIR)$(PREFIX)/bin/pam-totp
	install -D -m 0644 config/pam-totp.toml $(DESTDIR)/etc/pam-totp/config.toml
	install -d -m 0700 $(DESTDIR)/var/lib/pam-totp

clean:
	$(CARGO) clean
