# Sluice - build, test, install.
#
#   make               libsluice.so (soname libsluice.so.0) and libsluice.a
#   make demo          build and run examples/wordcount on the embedded cluster
#   make test          everything a change must pass (the README's command)
#   make check         the Check unit tests
#   make check-asan    the unit tests under AddressSanitizer + UBSan
#   make check-asan-clang  the same built with clang (installs it if missing)
#   make fuzz          each libFuzzer target 30 s (tests/fuzz/fuzz.mk);
#                      make fuzz-long: 600 s each
#   make check-valgrind the unit tests under valgrind (leaks are errors)
#   make check-integration  the runtime against a real broker: the one in
#                      $SLUICE_TEST_BOOTSTRAP, else one it starts and stops
#   make examples      build examples/
#   make installcheck  install into build/stage, build examples/hello.c
#                      against it through pkg-config, run it
#   make bench         build and run bench/engine
#   make bench-pipe    bench/pipe on a local broker: Sluice vs a plain loop
#   make install       PREFIX=/usr/local DESTDIR= (headers, libs, sluice.pc)
#   make clean
#
# Dependencies (Debian packages, librdkafka 2.14.2) are installed by
# scripts/deps.sh, which the build runs first; it is quick when all is there.

VERSION      := 0.1.0
SOVERSION    := 0
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DESTDIR      ?=
BUILD        ?= build
CC           ?= cc
SAN          ?=

RK_PREFIX    := $(shell scripts/deps.sh --print-prefix)
export PKG_CONFIG_PATH := $(RK_PREFIX)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
# $(shell) does not see exported variables before GNU make 4.4
PKGCONF := PKG_CONFIG_PATH=$(PKG_CONFIG_PATH) pkg-config

# Evaluated when a recipe runs, i.e. after scripts/deps.sh has run.
# LMDB (the persistent store) is optional: built in when pkg-config finds it
# (scripts/deps.sh installs it), or forced off with LMDB=no.
LMDB         ?= $(shell $(PKGCONF) --exists lmdb 2>/dev/null && echo yes)
LMDB_PKG      = $(if $(filter yes,$(LMDB)),lmdb)
DEP_CFLAGS    = $(patsubst -I%,-isystem %,$(shell $(PKGCONF) --cflags rdkafka jansson $(LMDB_PKG))) \
                $(if $(LMDB_PKG),-DSLUICE_HAVE_LMDB=1)
DEP_LIBS      = $(shell $(PKGCONF) --libs rdkafka jansson $(LMDB_PKG)) -Wl,-rpath,$(RK_PREFIX)/lib
CHECK_CFLAGS  = $(shell $(PKGCONF) --cflags check)
CHECK_LIBS    = $(shell $(PKGCONF) --libs check)

WARN     := -Wall -Wextra -Werror -Wshadow -Wconversion -Wstrict-prototypes \
            -Wmissing-prototypes
OPT      ?= -O2 -g
CFLAGS_ALL = -std=c11 $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -Iinclude \
             $(DEP_CFLAGS) $(if $(SAN),-fsanitize=address$(comma)undefined \
             -fno-omit-frame-pointer -fno-sanitize-recover=undefined) $(CFLAGS)
LDFLAGS_ALL = $(if $(SAN),-fsanitize=address$(comma)undefined) $(LDFLAGS)
comma := ,

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:lib/%.c=$(BUILD)/obj/%.o)
SONAME   := libsluice.so.$(SOVERSION)
SHLIB    := $(BUILD)/libsluice.so.$(VERSION)
STLIB    := $(BUILD)/libsluice.a
DEPS_OK  := $(BUILD)/.deps-ok

TEST_SRCS := $(wildcard tests/test_*.c) tests/main.c tests/kafka_util.c
# the store contract test runs the example's custom store too
TEST_EXTRA := examples/custom_store.c
TEST_BIN  := $(BUILD)/tests/unit
EXAMPLES  := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCH     := $(BUILD)/bench/engine
BENCH_STATE := $(BUILD)/bench/state
BENCH_RESTORE := $(BUILD)/bench/restore

.PHONY: all lib demo test check check-asan check-asan-clang check-valgrind \
        check-integration \
        examples run-examples bench-pipe bench-state bench-restore \
        installcheck bench install uninstall clean deps

all: lib
lib: $(BUILD)/libsluice.so $(STLIB)

deps: $(DEPS_OK)
$(DEPS_OK): scripts/deps.sh
	@scripts/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: lib/%.c lib/*.h include/sluice.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -c $< -o $@

$(SHLIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS_ALL) -o $@ $(LIB_OBJS) $(DEP_LIBS)

$(BUILD)/libsluice.so: $(SHLIB)
	ln -sf libsluice.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(STLIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# Tests and programs link the static library: no LD_LIBRARY_PATH needed.
$(TEST_BIN): $(TEST_SRCS) $(TEST_EXTRA) tests/*.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Itests -Wno-conversion $(TEST_SRCS) \
	    -DCUSTOM_STORE_NO_MAIN $(TEST_EXTRA) \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) $(CHECK_LIBS)

$(BUILD)/examples/%: examples/%.c $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH): bench/engine.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

INTEG_BIN := $(BUILD)/tests/integration/test_integration
INTEG_APP := $(BUILD)/tests/integration/app_upper
INTEG_WC  := $(BUILD)/tests/integration/app_wordcount

$(INTEG_BIN): tests/integration/test_integration.c tests/kafka_util.c tests/kafka_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Itests -Wno-conversion \
	    tests/integration/test_integration.c tests/kafka_util.c \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) $(CHECK_LIBS) -lpthread

$(INTEG_APP): tests/integration/app_upper.c tests/integration/app_common.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(INTEG_WC): tests/integration/app_wordcount.c tests/integration/app_common.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

# Against $SLUICE_TEST_BOOTSTRAP if set, else a broker of its own (Kafka
# 3.9.2 from Maven Central via scripts/kafka), stopped however the run ends.
check-integration: $(INTEG_BIN) $(INTEG_APP) $(INTEG_WC)
	BUILD=$(BUILD) tests/integration/run.sh $(if $(SLUICE_TEST_BOOTSTRAP),,--local-broker)

examples: $(EXAMPLES)

demo: $(BUILD)/examples/wordcount
	$(BUILD)/examples/wordcount --demo

check: $(TEST_BIN)
	$(TEST_BIN)

# With CC=clang in its own directory: clang's UBSan finds what gcc's does
# not (pointer arithmetic on NULL, for one).
ASAN_BUILD = build/asan$(if $(findstring clang,$(notdir $(CC))),-clang)
check-asan:
	$(if $(findstring clang,$(notdir $(CC))),scripts/deps.sh --clang)
	$(MAKE) BUILD=$(ASAN_BUILD) SAN=1 OPT="-O1 -g" check \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

check-asan-clang:
	$(MAKE) check-asan CC=clang

include tests/fuzz/fuzz.mk

check-valgrind: $(TEST_BIN)
	CK_FORK=no valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 $(TEST_BIN)

STAGE := $(abspath $(BUILD)/stage)
installcheck: lib
	rm -rf $(STAGE)
	$(MAKE) install DESTDIR= PREFIX=$(STAGE)
	@mkdir -p $(BUILD)/installcheck
	PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig:$(PKG_CONFIG_PATH) sh -c \
	  'cc -std=c11 -Wall -Wextra -Werror examples/hello.c -o $(BUILD)/installcheck/hello \
	     $$(pkg-config --cflags --libs sluice) -Wl,-rpath,$(STAGE)/lib'
	$(BUILD)/installcheck/hello

bench: $(BENCH)
	$(BENCH)

$(BENCH_STATE): bench/state.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_RESTORE): bench/restore.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

# Stores through the test driver: per-key count and word count over 1M keys,
# memory vs LMDB, cache on/off; resident memory per 1M keys
bench-state: $(BENCH_STATE)
	$(BENCH_STATE)

# Restore rate from a 5M-record changelog on a broker it starts
bench-restore: $(BENCH_RESTORE)
	BUILD=$(BUILD) bench/restore.sh

# Sluice against a plain librdkafka loop on a broker it starts (scripts/kafka)
bench-pipe:
	bench/pipe.sh

# The examples run as a user would run them, checked by what they print.
run-examples: examples
	$(BUILD)/examples/orders | grep -q '"amount_eur":110.4'
	printf 'hello\nworld\n' | $(BUILD)/examples/host_loop | tee $(BUILD)/host_loop.out
	grep -qx 'HELLO   (partition [0-9], offset 0)' $(BUILD)/host_loop.out
	grep -q 'processed 2 of 2 lines' $(BUILD)/host_loop.out

# In this order, so that the last lines are Check's summary.
test:
	$(MAKE) demo
	$(MAKE) run-examples
	$(MAKE) installcheck
	$(MAKE) check
	$(MAKE) check-asan
	$(MAKE) check-asan-clang
	$(MAKE) fuzz
	$(MAKE) check-integration

install: lib
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/sluice.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libsluice.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsluice.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@RK_LIBDIR@|$(RK_PREFIX)/lib|' \
	    -e 's|@LMDB_PKG@|$(LMDB_PKG)|' \
	    pkgconfig/sluice.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sluice.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/sluice.h $(DESTDIR)$(LIBDIR)/libsluice.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/sluice.pc

clean:
	rm -rf build
