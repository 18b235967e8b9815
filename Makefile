# vsmtpd — GNU Make build. No autotools: pkg-config finds the libraries.
#
#   make            build build/vsmtpd (optimised, -Werror)
#   make run        install missing Debian packages, build, run the example config
#   make test       install, build with ASan+UBSan, run unit and integration tests
#   make SAN=1      build the sanitizer variant into build-san/
#   make check-layers   the include rules of docs/ARCHITECTURE.md
#   make install    programs, man pages, systemd unit (PREFIX, DESTDIR, SYSCONFDIR, UNITDIR)

PKGS      := libevent libevent_pthreads libevent_openssl openssl inih libcrypt libcares jansson
DEB_PKGS  := build-essential pkg-config libevent-dev libinih-dev libssl-dev libcrypt-dev libcmocka-dev \
             python3 python3-pytest swaks openssl dnsmasq-base \
             libc-ares-dev dovecot-lmtpd libjansson-dev \
             nodejs chromium

CC        ?= cc
ifeq ($(FUZZ),1)
BUILD     ?= build-fuzz
CC        := clang
SANFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
OPT       := -O1
else ifeq ($(SAN),1)
BUILD     ?= build-san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT       := -O1
else
BUILD     ?= build
SANFLAGS  :=
OPT       := -O2
endif

WARN      := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
CFLAGS    ?= $(OPT) -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(SANFLAGS) -iquote src
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDFLAGS   += $(SANFLAGS) -pthread

# Every src/ file but main.c goes into one archive; the daemon and each unit
# test link against it, so a new module needs no Makefile edit.
LIB_SRCS  := $(sort $(wildcard src/lib/*.c) $(filter-out src/main.c,$(wildcard src/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
# The web console's front end: every file of www/ compiled in (docs/CONSOLE.md).
WWW_FILES := $(sort $(shell find www -type f ! -path '*/.*' 2>/dev/null))
WWW_GEN   := $(BUILD)/gen/console_assets
LIB_OBJS  += $(WWW_GEN).o
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(sort $(wildcard tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60

.SECONDARY:
.PHONY: all run test unit integration deps clean check-layers fuzz fuzz-replay fuzz-run docs bench

all: $(BUILD)/vsmtpd $(TOOL_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# www.list changes only when a file is added to www/ or removed from it (it is checked at every
# make: FORCE is phony, as .SECONDARY would let a missing FORCE pass), so the generated C
# follows both that and every edit of a file.
$(BUILD)/gen/www.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(WWW_FILES)' | cmp -s - $@ || echo '$(WWW_FILES)' > $@

$(WWW_GEN).c: scripts/embed-assets.py $(BUILD)/gen/www.list $(WWW_FILES)
	/usr/bin/python3 scripts/embed-assets.py www $@

$(WWW_GEN).o: $(WWW_GEN).c
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

.PHONY: FORCE
FORCE:

$(BUILD)/libvsmtpd.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vsmtpd: $(BUILD)/src/main.o $(BUILD)/libvsmtpd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/%: $(BUILD)/tools/%.o $(BUILD)/libvsmtpd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libvsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# Fuzz targets: replayed over corpus + regressions by `make test` (any
# compiler); `make fuzz` builds them with clang's libFuzzer and runs each.
$(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/replay.o $(BUILD)/libvsmtpd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/libvsmtpd.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz-replay: $(REPLAY_BINS)
	@set -e; for n in $(FUZZ_NAMES); do echo "== replay $$n"; \
	  $(BUILD)/fuzz/replay_$$n fuzz/corpus/$$n fuzz/regress/$$n; done

fuzz:
	$(MAKE) FUZZ=1 fuzz-run

fuzz-run: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
	  mkdir -p fuzz/out/$$n fuzz/regress/$$n; \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/regress/$$n/ \
	    fuzz/out/$$n fuzz/corpus/$$n; done

-include $(LIB_OBJS:.o=.d) $(BUILD)/src/main.d $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%.d) \
	$(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%.d) $(TOOL_SRCS:tools/%.c=$(BUILD)/tools/%.d)

# ---- set-up: the two README commands -------------------------------------

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

run: deps
	$(MAKE) all
	./etc/make-run.sh $(BUILD)/vsmtpd

# Every binary runs even after a failure, so one report shows them all.
unit: $(UNIT_BINS)
	@failed=""; for t in $(UNIT_BINS); do echo "== $$t"; \
	  (cd tests/unit && ../../$$t) || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "unit tests failed:$$failed"; exit 1; fi

# The console's browser tests drive Debian's chromium with playwright-core from npm
# (tests/browser/package-lock.json); installed again only when the lock file changes.
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json
$(BROWSER_DEPS): tests/browser/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq npm; }
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

integration: $(BUILD)/vsmtpd $(TOOL_BINS) $(BROWSER_DEPS)
	VSMTPD_BIN=$(abspath $(BUILD)/vsmtpd) VSMTPD_BUILD=$(abspath $(BUILD)) \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

test: deps
	$(MAKE) all
	$(MAKE) check-layers
	$(MAKE) SAN=1 unit fuzz-replay integration
	$(MAKE) lint fuzz-ci

# docs/CONFIG.md, vsmtpd.conf(5) and the example config are generated from
# config_keys.c; a unit test fails when they drift.
docs: $(BUILD)/config-doc
	$(BUILD)/config-doc > docs/CONFIG.md
	$(BUILD)/config-doc man > docs/vsmtpd.conf.5
	$(BUILD)/config-doc example > etc/vsmtpd.conf.example

# ---- make install: programs, manual pages, the systemd unit, the example ----

# `make install PREFIX=/usr DESTDIR=pkg/` for a package. The configuration stays
# in /etc whatever PREFIX is (FHS: there is no /usr/etc).
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
INSTALL    ?= install
# config-doc only writes the docs in the tree: it is not installed.
INSTALL_BINS = $(BUILD)/vsmtpd $(filter-out $(BUILD)/config-doc,$(TOOL_BINS))

.PHONY: install

# Only vsmtpd.conf.example is written into $(SYSCONFDIR)/vsmtpd, so an existing
# vsmtpd.conf is never touched. No chown: a DESTDIR install runs as any user.
install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/vsmtpd
	$(INSTALL) -m 755 $(INSTALL_BINS) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 644 docs/vsmtpd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 644 $(sort $(wildcard docs/*.8)) $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/vsmtpd.service.in \
	  > $(DESTDIR)$(UNITDIR)/vsmtpd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/vsmtpd.service
	$(INSTALL) -m 644 etc/vsmtpd.conf.example $(DESTDIR)$(SYSCONFDIR)/vsmtpd/vsmtpd.conf.example

# Side by side with Postfix (installs it); not part of `make test`.
bench: all
	bench/run.sh $(BUILD)/vsmtpd

check-layers:
	@./scripts/check-layers.sh

# ---- static analysis and a short fuzzing pass (both in `make test`) -------

# The analyzers, and the fuzzer's compiler and runtime; `make deps` installs them.
DEB_PKGS  += clang libclang-rt-dev clang-tidy cppcheck
LINT_SRCS := $(sort $(wildcard src/*.c src/lib/*.c tools/*.c))
LINT_CFLAGS = -std=c11 -D_GNU_SOURCE -iquote src $(PKG_CFLAGS)
NPROC     := $(shell nproc 2>/dev/null || echo 2)
# fuzz-ci runs each target FUZZ_SECONDS too, but 10 unless given (`make fuzz` keeps its 60).
FUZZ_CI_SECONDS := $(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),10)

.PHONY: lint fuzz-ci

# clang-tidy (.clang-tidy) and cppcheck over src/ and tools/; any finding fails.
lint:
	@./scripts/lint.sh $(LINT_SRCS) -- $(LINT_CFLAGS)

# Every fuzz target for FUZZ_CI_SECONDS, one per CPU; a crash fails and lands in fuzz/regress/.
fuzz-ci:
	$(MAKE) FUZZ=1 -j$(NPROC) $(FUZZ_NAMES:%=build-fuzz/fuzz/fuzz_%)
	./scripts/fuzz-ci.sh build-fuzz $(FUZZ_CI_SECONDS) $(FUZZ_NAMES)

clean:
	rm -rf build build-san build-fuzz
