# s3vol build.
#
#   make               build/libs3vol.a, build/nbdkit-s3vol-plugin.so,
#                      build/s3vol
#   make check         install test dependencies, build, run every test
#   make check-unit    unit tests only (no S3 server)
#   make check-asan    unit tests built with ASan + UBSan
#   make bench         benchmarks that print figures
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
             -Iinclude -Ilib $(SANFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm

LIB_SRCS    := $(wildcard lib/*.c)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
PLUGIN_SRCS := $(wildcard plugin/*.c)
PLUGIN_OBJS := $(PLUGIN_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS    := $(wildcard nbd-client-tools/*.c)
CLI_OBJS    := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPER_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJS := $(UNIT_HELPER_SRCS:%.c=$(BUILD)/%.o)
BENCH_SRCS  := $(wildcard tests/bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)

LIB     := $(BUILD)/libs3vol.a
PLUGIN  := $(BUILD)/nbdkit-s3vol-plugin.so
CLI     := $(BUILD)/s3vol

.PHONY: all deps check check-unit check-s3 check-integration check-asan \
        bench stress install clean demo man

all: deps-build $(LIB) $(PLUGIN) $(CLI)

# Build dependencies are installed on demand; the script is quiet and quick
# when nothing is missing.
.PHONY: deps-build deps-test
deps-build:
	@scripts/install-deps build
deps-test:
	@scripts/install-deps all

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(PLUGIN): $(PLUGIN_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -shared -o $@ $(PLUGIN_OBJS) $(LIB) \
	  $(LDLIBS_ALL)

$(CLI): $(CLI_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(XCFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HELPER_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< \
	  $(UNIT_HELPER_OBJS) $(LIB) $(LDLIBS_ALL) -lcmocka $(TEST_LIBS_$*)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(XCFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< \
	  $(LIB) $(LDLIBS_ALL)

# The independent S3 client used to check a bucket from outside (libs3
# ships only a static archive; tests link it, the product never does).
TEST_LIBS_test_s3_outside := -l:libs3.a $(shell pkg-config --libs libcurl libxml-2.0 openssl 2>/dev/null)

unit: $(UNIT_BINS)

# Keep objects make would otherwise treat as intermediate.
.SECONDARY:

# The README's test command.  Installs everything, builds, starts one
# Ceph RGW for the whole run, runs every test, stops the server.
check: deps-test all unit
	@tests/run-all $(BUILD)

# The README's main job.
demo: deps-run all
	@scripts/demo $(BUILD)

.PHONY: deps-run
deps-run:
	@scripts/install-deps run

check-unit: all unit
	@tests/run-unit $(BUILD)

check-asan:
	@scripts/install-deps all
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run-unit build-asan

bench: deps-test all $(BENCH_BINS)
	@tests/bench/run $(BUILD)

# Crash tests with many more iterations than make check runs
# (ITERATIONS=N, default 2000).
stress: all
	@BUILD=$(BUILD) tests/stress/crash.sh $(or $(ITERATIONS),2000)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/s3vol
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
	rm -rf build build-asan

-include $(LIB_OBJS:.o=.d) $(PLUGIN_OBJS:.o=.d) $(CLI_OBJS:.o=.d)
