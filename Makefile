# vsmtpd — GNU Make build. No autotools: pkg-config finds the libraries.
#
#   make            build build/vsmtpd (optimised, -Werror)
#   make run        install missing Debian packages, build, run the example config
#   make test       install, build with ASan+UBSan, run unit and integration tests
#   make SAN=1      build the sanitizer variant into build-san/
#   make check-layers   the include rules of docs/ARCHITECTURE.md

PKGS      := libevent libevent_pthreads libevent_openssl openssl inih libcrypt libcares jansson
DEB_PKGS  := build-essential pkg-config libevent-dev libinih-dev libssl-dev libcrypt-dev libcmocka-dev \
             python3 python3-pytest swaks openssl dnsmasq-base \
             libc-ares-dev dovecot-lmtpd libjansson-dev

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

-include $(LIB_OBJS:.o=.d) $(BUILD)/src/main.d $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%.d)

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

integration: $(BUILD)/vsmtpd $(TOOL_BINS)
	VSMTPD_BIN=$(abspath $(BUILD)/vsmtpd) VSMTPD_BUILD=$(abspath $(BUILD)) \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

test: deps
	$(MAKE) all
	$(MAKE) check-layers
	$(MAKE) SAN=1 unit fuzz-replay integration

# docs/CONFIG.md and the example config are generated from config_keys.c;
# a unit test fails when they drift.
docs: $(BUILD)/config-doc
	$(BUILD)/config-doc > docs/CONFIG.md
	$(BUILD)/config-doc example > etc/vsmtpd.conf.example

# Side by side with Postfix (installs it); not part of `make test`.
bench: all
	bench/run.sh $(BUILD)/vsmtpd

check-layers:
	@./scripts/check-layers.sh

clean:
	rm -rf build build-san
