# pam-totp — see README.md. `make demo` and `make test` are the two entry points.

CARGO ?= cargo
PREFIX ?= /usr
DESTDIR ?=
PAMDIR ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH >/dev/null 2>&1 && echo /usr/lib/$$(dpkg-architecture -qDEB_HOST_MULTIARCH)/security || echo /usr/lib64/security)

.PHONY: all build test lint install clean

all: build

build:
	$(CARGO) build --release --locked

# The whole test suite: unit tests, the module through the real libpam, and
# end-to-end logins through a real sshd (those need root; CI runs as root).
# test-hooks adds a fake clock and crash points, for tests only.
test:
	$(CARGO) test --locked --features test-hooks -- --test-threads=4

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

# Fuzz every parser for FUZZ_SECONDS each (default 30) with cargo fuzz
# (libFuzzer). Uses a nightly toolchain if rustup has one, otherwise stable
# with RUSTC_BOOTSTRAP=1. Seeds live in fuzz/seeds/, the growing corpus in
# fuzz/corpus/ (not committed). Not part of `make test`.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = secret_file state config answer
FUZZ_CARGO = $(shell rustup toolchain list 2>/dev/null | grep -q '^nightly' && echo 'cargo +nightly' || echo 'RUSTC_BOOTSTRAP=1 cargo')

.PHONY: fuzz
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	cd fuzz && $(FUZZ_CARGO) fuzz build
	set -e; for target in $(FUZZ_TARGETS); do \
	    mkdir -p fuzz/corpus/$$target fuzz/logs; \
	    echo "== fuzzing $$target for $(FUZZ_SECONDS) s"; \
	    if ! (cd fuzz && $(FUZZ_CARGO) fuzz run $$target corpus/$$target seeds/$$target -- \
	            -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1) > fuzz/logs/$$target.log 2>&1; then \
	        tail -40 fuzz/logs/$$target.log; echo "fuzz target $$target FAILED (fuzz/logs/$$target.log, fuzz/artifacts/$$target)"; exit 1; \
	    fi; \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' fuzz/logs/$$target.log; \
	done
