# pam-totp — see README.md. `make demo` and `make test` are the two entry points.

SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/pam-totp
SYSCONFDIR ?= /etc
STATEDIR ?= /var/lib/pam-totp
# libpam loads modules named without a path from its own directory only, so
# the module does not follow PREFIX: the multiarch directory on Debian and
# derivatives, /usr/lib64/security elsewhere. Override with PAMDIR=.
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
PAMDIR ?= $(if $(MULTIARCH),/usr/lib/$(MULTIARCH)/security,/usr/lib64/security)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAN_PAGES := target/man/pam_totp.8 target/man/pam-totp.1 target/man/pam-totp.toml.5

.PHONY: all build man test lint bench install install-files uninstall deb rpm rpm-build demo clean

all: build man

build:
	$(CARGO) build --release --locked

# Manual pages: roff sources in man/*.in, the version filled in.
man: $(MAN_PAGES)

target/man/%: man/%.in Cargo.toml
	@mkdir -p target/man
	sed 's/@VERSION@/$(VERSION)/g' $< > $@.tmp.$$$$ && mv $@.tmp.$$$$ $@

# The whole test suite: unit tests, the module through the real libpam,
# end-to-end logins through a real sshd, the Debian package, the demo and
# the manual pages (those need root; CI runs as root).
# test-hooks adds a fake clock and crash points, for tests only. The module
# and pam_totp_postgres.so are built first: `cargo test` does not build a
# package's shared object (the tests load them from target/debug).
# Every test binary runs (--no-fail-fast); a test that cannot run here
# records a skip in target/test-skips (src/system/test_skip.rs), which is
# counted apart from the passes, and with CI=true is a failure. The last
# line is "total: N passed, M failed, K skipped".
TEST_SKIPS := $(CURDIR)/target/test-skips
test:
	scripts/install-test-packages.sh
	mkdir -p target
	rm -rf $(TEST_SKIPS)
	$(CARGO) build --locked --features test-hooks
	@set -o pipefail; status=0; \
	PAM_TOTP_TEST_SKIPS=$(TEST_SKIPS) $(CARGO) test --locked --no-fail-fast --features test-hooks -- --test-threads=4 2>&1 | tee target/test.log || status=$$?; \
	scripts/test-summary.sh target/test.log $(TEST_SKIPS) || status=1; \
	exit $$status

# Side-by-side with google-authenticator-libpam and pam_oath (root; installs
# the Debian packages it needs). Prints the table recorded in BENCHMARKS.md.
bench:
	bench/run.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --features test-hooks -- -D warnings

# For other distributions: `make install` (as root), or with DESTDIR for a
# package build. An existing configuration file is never overwritten.
install: build man
	$(MAKE) --no-print-directory install-files

# The same without building (used by the package builds), from RELEASE_DIR.
RELEASE_DIR ?= target/release
install-files:
	install -D -m 0644 $(RELEASE_DIR)/libpam_totp.so $(DESTDIR)$(PAMDIR)/pam_totp.so
	install -D -m 0644 $(RELEASE_DIR)/libpam_totp_postgres.so $(DESTDIR)$(PAMDIR)/pam_totp_postgres.so
	install -D -m 0755 $(RELEASE_DIR)/pam-totp $(DESTDIR)$(BINDIR)/pam-totp
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/pam-totp
	[ -e $(DESTDIR)$(SYSCONFDIR)/pam-totp/config.toml ] || \
		install -m 0644 config/pam-totp.toml $(DESTDIR)$(SYSCONFDIR)/pam-totp/config.toml
	install -d -m 0700 $(DESTDIR)$(STATEDIR)
	install -D -m 0644 target/man/pam_totp.8 $(DESTDIR)$(MANDIR)/man8/pam_totp.8
	install -D -m 0644 target/man/pam-totp.1 $(DESTDIR)$(MANDIR)/man1/pam-totp.1
	install -D -m 0644 target/man/pam-totp.toml.5 $(DESTDIR)$(MANDIR)/man5/pam-totp.toml.5
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -D -m 0644 config/pam-totp.toml $(DESTDIR)$(DOCDIR)/examples/config.toml
	install -d -m 0755 $(DESTDIR)$(DOCDIR)/examples/pam.d
	install -m 0644 pam.d/* $(DESTDIR)$(DOCDIR)/examples/pam.d/
	install -d -m 0755 $(DESTDIR)$(DOCDIR)/examples/sshd_config.d
	install -m 0644 sshd_config.d/* $(DESTDIR)$(DOCDIR)/examples/sshd_config.d/

# Removes what install put there, except the configuration and the state
# (remove /etc/pam-totp and /var/lib/pam-totp by hand if you want them gone).
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_totp.so $(DESTDIR)$(PAMDIR)/pam_totp_postgres.so \
		$(DESTDIR)$(BINDIR)/pam-totp
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_totp.8 $(DESTDIR)$(MANDIR)/man1/pam-totp.1 \
		$(DESTDIR)$(MANDIR)/man5/pam-totp.toml.5
	rm -rf $(DESTDIR)$(DOCDIR)

# target/pam-totp_VERSION_ARCH.deb, with dpkg-deb from a staged tree.
deb: build man
	packaging/deb/build.sh

# target/rpm/RPMS/ARCH/pam-totp-VERSION-1.ARCH.rpm (rpmbuild: Debian's `rpm` package),
# for glibc 2.34 and later (RHEL 9 and its rebuilds, Fedora 35+): a build of
# its own in target/rpm-build with libgcc_s linked dynamically (see build.rs).
RPM_RELEASE_DIR := target/rpm-build/release
rpm-build:
	PAM_TOTP_UNWINDER=dynamic CARGO_TARGET_DIR=target/rpm-build $(CARGO) build --release --locked

rpm: rpm-build man
	RELEASE_DIR=$(RPM_RELEASE_DIR) packaging/rpm/build.sh

# As root on a Debian machine: a throwaway sshd on 127.0.0.1 with a demo user.
demo:
	scripts/demo.sh

clean:
	$(CARGO) clean

# Fuzz every parser for FUZZ_SECONDS each (default 30) with cargo fuzz
# (libFuzzer). Uses a nightly toolchain if rustup has one, otherwise stable
# with RUSTC_BOOTSTRAP=1. Seeds live in fuzz/seeds/, the growing corpus in
# fuzz/corpus/ (not committed). Not part of `make test` (tests/fuzz_seeds.rs
# replays the authenticate seeds there). One target for two minutes:
#   make fuzz FUZZ_TARGETS=authenticate FUZZ_SECONDS=120
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = secret_file state config answer toml_fast_path google_authenticator pam_oath authenticate pam_stack
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
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)|DONE|successes checked' fuzz/logs/$$target.log; \
	done

# Mutation testing of the pure core with the library's unit tests: every
# mutant cargo-mutants makes of the decision, the codes, the answers, the
# recovery codes and the state value must fail a unit test (or be
# explained as equivalent: see README.md). Needs cargo-mutants (crates.io);
# works on a copy of the tree; results in target/mutants/mutants.out/
# (missed.txt: the survivors).
MUTANTS_FILES = src/decision.rs src/otp.rs src/answer.rs src/recovery.rs src/state.rs
# Of state.rs, the state value only (State's methods), not its files.
MUTANTS_RE = ^src/(decision|otp|answer|recovery)\.rs:|State::|is_recovery_id

.PHONY: mutants
mutants:
	command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
	$(CARGO) mutants --package pam-totp $(addprefix --file ,$(MUTANTS_FILES)) \
		--re '$(MUTANTS_RE)' --features test-hooks --cargo-arg=--lib --output target/mutants
