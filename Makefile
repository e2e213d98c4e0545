# SPDX-License-Identifier: BSD-3-Clause
# s3vol build.
#
#   make               build only: build/libs3vol.a, build/libs3vol.so,
#                      build/nbdkit-s3vol-plugin.so, build/s3vol
#   make deps          install every dependency (scripts/install-deps)
#   make check         install test dependencies, build, check the layers,
#                      run every test (the README's test command)
#   make check-layers  fail when a layer of lib/ calls a higher one, or the
#                      plugin or CLI uses more than libs3vol exports
#   make check-unit    unit tests only (no S3 server)
#   make check-asan    unit tests built with ASan + UBSan
#   make bench         benchmarks that print figures
#   make stress        long crash soak
#   make install       PREFIX=/usr/local (plugin into nbdkit's plugindir)

VERSION   := 0.1.0
BUILD     ?= build
PREFIX    ?= /usr/local
DESTDIR   ?=

CC        ?= cc
PKGS      := libcurl openssl libzstd libxml-2.0 ext2fs
OPT       ?= -O2
SANFLAGS  ?=
CFLAGS    ?= $(OPT) -g
# -Wno-format-truncation: snprintf into fixed buffers truncates on
# purpose (paths, messages); gcc cannot see the bounds we rely on.
XCFLAGS   := -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation \
             -fPIC -pthread \
             -D_GNU_SOURCE -DS3VOL_VERSION='"$(VERSION)"' \
             -Iinclude $(SANFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm
# The CLI alone serves HTTP (s3vol web); the library never links it.
CLI_PKGS   := libmicrohttpd
CLI_CFLAGS  = $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
CLI_LIBS    = $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)

# ---- the library, one folder per layer (lib/LAYERS) ----------------------
#
# Each layer compiles with include/ plus its own folder and the folders
# of the layers LAYERS lets it use, so a private header of a higher
# layer cannot even be included.

LAYERS      := $(shell sed -e 's/\#.*//' lib/LAYERS | awk 'NF { print $$1 }')
layer_uses   = $(shell sed -e 's/\#.*//' lib/LAYERS | \
                 awk -v l=$(1) '$$1 == l { for (i = 2; i <= NF; i++) print $$i }')
LIB_SRCS    := $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c))
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)

$(foreach l,$(LAYERS),$(eval \
  $(BUILD)/lib/$(l)/%.o: LAYER_INC := -Ilib/$(l) \
    $(foreach u,$(call layer_uses,$(l)),-Ilib/$(u))))

PLUGIN_SRCS := $(wildcard plugin/*.c)
PLUGIN_OBJS := $(PLUGIN_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS    := $(wildcard nbd-client-tools/*.c)
CLI_OBJS    := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SUPPORT_SRCS := $(wildcard tests/support/*.c)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/%.o)
SEC_SRCS    := $(wildcard tests/security/test_*.c)
SEC_BINS    := $(SEC_SRCS:tests/security/%.c=$(BUILD)/security/%)
BENCH_SRCS  := $(wildcard tests/bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)

$(BUILD)/tests/support/%.o $(BUILD)/tests/%: LAYER_INC := -Itests/support
$(BUILD)/tests/test_util: LAYER_INC := -Itests/support -Ilib/util

LIB     := $(BUILD)/libs3vol.a
SOLIB   := $(BUILD)/libs3vol.so
PLUGIN  := $(BUILD)/nbdkit-s3vol-plugin.so
CLI     := $(BUILD)/s3vol

.PHONY: all deps check check-unit check-layers check-integration \
        check-asan bench stress install clean demo man unit

all: $(LIB) $(SOLIB) $(PLUGIN) $(CLI)

# Installing packages is never part of a plain build.
.PHONY: deps-build deps-run deps-test
deps: deps-test
deps-build:
	@scripts/install-deps build
deps-run:
	@scripts/install-deps run
deps-test:
	@scripts/install-deps all

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(LAYER_INC) $(PKG_CFLAGS) -MMD -MP \
	  -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# libs3vol.so exports exactly the functions include/s3vol/ declares: the
# version script is made from the headers and the objects.
$(BUILD)/libs3vol.map: $(LIB_OBJS) $(wildcard include/s3vol/*.h) \
                       scripts/export-map
	scripts/export-map $(LIB_OBJS) > $@.tmp && mv $@.tmp $@

$(SOLIB): $(LIB_OBJS) $(BUILD)/libs3vol.map
	$(CC) $(CFLAGS) $(XCFLAGS) -shared -Wl,-soname,libs3vol.so.0 \
	  -Wl,--version-script=$(BUILD)/libs3vol.map -o $@ $(LIB_OBJS) \
	  $(LDLIBS_ALL)

# The plugin exports nothing but plugin_init (as nbdkit's own plugins).
$(PLUGIN): $(PLUGIN_OBJS) $(LIB) plugin/plugin.map
	$(CC) $(CFLAGS) $(XCFLAGS) -shared \
	  -Wl,--version-script=plugin/plugin.map -o $@ $(PLUGIN_OBJS) $(LIB) \
	  $(LDLIBS_ALL)

$(BUILD)/nbd-client-tools/%.o: LAYER_INC := $(CLI_CFLAGS)

$(CLI): $(CLI_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS_ALL) \
	  $(CLI_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(LAYER_INC) $(PKG_CFLAGS) -o $@ $< \
	  $(SUPPORT_OBJS) $(LIB) $(LDLIBS_ALL) -lcmocka $(TEST_LIBS_$*)

# Security tests: crafted images, objects and endpoints (tests/security/).
$(BUILD)/security/%: tests/security/%.c $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -Itests/support $(PKG_CFLAGS) -o $@ $< \
	  $(SUPPORT_OBJS) $(LIB) $(LDLIBS_ALL) -lcmocka

$(BUILD)/bench/%: tests/bench/%.c $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -Itests/support $(PKG_CFLAGS) -o $@ $< \
	  $(SUPPORT_OBJS) $(LIB) $(LDLIBS_ALL) -lcmocka

# The independent S3 client used to check a bucket from outside (libs3
# ships only a static archive; tests link it, the product never does).
TEST_LIBS_test_s3_outside := -l:libs3.a $(shell pkg-config --libs libcurl libxml-2.0 openssl 2>/dev/null)

unit: $(UNIT_BINS) $(SEC_BINS)

# Keep objects make would otherwise treat as intermediate.
.SECONDARY:

check-layers: all
	@scripts/check-layers $(BUILD)

# The README's test command.  Installs everything, builds, checks the
# layers, starts one Ceph RGW for the whole run, runs every test, stops
# the server.
check: deps-test
	$(MAKE) all unit
	@scripts/check-layers $(BUILD)
	@tests/run-all $(BUILD)

# The README's main job.
demo: deps-run
	$(MAKE) all
	@scripts/demo $(BUILD)

check-unit: all unit
	@tests/run-unit $(BUILD)

check-asan: deps-test
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run-unit build-asan

bench: deps-test
	$(MAKE) all $(BENCH_BINS)
	@tests/bench/run $(BUILD)

# Crash tests with many more iterations than make check runs
# (ITERATIONS=N, default 2000), then the attachments issue's tests at
# full size (tests/stress/: 20+2 attachments reading one volume, 30 s
# idle, 50 detach cycles, a 200 MiB file trimmed), and the file verbs
# against the kernel (10,000 operations, a three-level directory index);
# each runs, then the target fails naming those that failed.
STRESS_TESTS := attachments idle detach_cycles trim fileops_diff
stress: all
	@BUILD=$(BUILD) tests/stress/crash.sh $(or $(ITERATIONS),2000)
	@failed=; for t in $(STRESS_TESTS); do \
	  BUILD=$(BUILD) tests/stress/$$t.sh || failed="$$failed $$t"; \
	done; [ -z "$$failed" ] || { echo "stress: FAILED:$$failed"; exit 1; }

# ---- fuzzing (tests/fuzz/) ------------------------------------------------
#
# libFuzzer targets for everything that parses untrusted bytes, built with
# clang in their own tree: the library with -fsanitize=fuzzer-no-link and
# ASan + UBSan, each target linked with -fsanitize=fuzzer.
#   make fuzz          every target for FUZZ_SECONDS (default 120) each;
#                      fails on any crash (artifacts in build-fuzz/crashes)
#   make fuzz-build    only build them
# make check runs a short bounded pass (tests/fuzz/run.sh).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 120
FUZZ_SAN     := -Wno-unknown-warning-option \
                -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:tests/fuzz/%.c=%)

.PHONY: fuzz fuzz-build fuzz-bins
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 \
	  SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/harness.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) -fsanitize=fuzzer -Itests/fuzz \
	  -Ilib/store/s3 $(PKG_CFLAGS) -o $@ $< $(BUILD)/fuzz/harness.o \
	  $(LIB) $(LDLIBS_ALL)

$(BUILD)/fuzz/harness.o: tests/fuzz/harness.c tests/fuzz/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(PKG_CFLAGS) -c $< -o $@

fuzz: deps-test fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh --long $(FUZZ_SECONDS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/s3vol
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/s3vol
	install -m 0755 $(SOLIB) $(DESTDIR)$(PREFIX)/lib/libs3vol.so.0
	ln -sf libs3vol.so.0 $(DESTDIR)$(PREFIX)/lib/libs3vol.so
	install -m 0644 include/s3vol/*.h $(DESTDIR)$(PREFIX)/include/s3vol/
	plugindir=$$(nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p'); \
	if [ "$(PREFIX)" != /usr/local ] || [ -z "$$plugindir" ]; then \
	  plugindir=$(PREFIX)/lib/nbdkit/plugins; fi; \
	install -d $(DESTDIR)$$plugindir && \
	install -m 0755 $(PLUGIN) $(DESTDIR)$$plugindir/nbdkit-s3vol-plugin.so
	for m in docs/*.1; do [ -e "$$m" ] || continue; \
	  install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done

# Man pages are generated from POD and committed, so building needs no
# perl; run this after editing a .pod.
man:
	for p in docs/*.pod; do \
	  pod2man --section=1 --center=s3vol --release="s3vol $(VERSION)" \
	    $$p > $${p%.pod}.1; done

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJS:.o=.d) $(PLUGIN_OBJS:.o=.d) $(CLI_OBJS:.o=.d) \
         $(SUPPORT_OBJS:.o=.d)
