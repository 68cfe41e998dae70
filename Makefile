# Sluice - build, test, install.
#
#   make               libsluice.so (soname libsluice.so.0) and libsluice.a
#   make demo          build and run examples/wordcount on the embedded cluster
#   make demo-features build and run examples/features (windowed features
#                      for ML over payments) on the embedded cluster
#   make demo-enrich   build and run examples/enrich (orders enriched by a
#                      stream-table, a versioned and a stream-stream join)
#                      under the test driver
#   make test          everything a change must pass (the README's command)
#   make check         the Check unit tests
#   make check-asan    the unit tests under AddressSanitizer + UBSan
#   make check-asan-clang  the same built with clang (installs it if missing)
#   make fuzz          each libFuzzer target 30 s (tests/fuzz/fuzz.mk);
#                      make fuzz-long: 600 s each
#   make check-valgrind the unit tests under valgrind (leaks are errors)
#   make check-integration  the runtime against a real broker: the one in
#                      $SLUICE_TEST_BOOTSTRAP, else one it starts and stops
#                      (Kafka 4.4.0, group.protocol classic and consumer;
#                      KAFKA_VERSION=3.9.2 for the old line, classic only)
#   make check-integration-windows  only the windowed features on a broker
#                      (tests/integration/run_windows.sh; check-integration
#                      runs it after run.sh)
#   make check-integration-joins  only the joins (the enrich example) on a
#                      broker (tests/integration/run_joins.sh;
#                      check-integration runs it after the windows)
#   make check-chaos   exactly-once while instances and brokers are killed,
#                      on a 3-broker cluster it starts (the short form;
#                      make check-chaos-full: 1M records, more kills)
#   make check-integration-all  the broker matrix make test runs: Kafka
#                      4.4.0 with both group protocols, then 3.9.2 with the
#                      classic one (once, on $SLUICE_TEST_BOOTSTRAP if set)
#   make check-ksdiff  the differential test of windowed aggregations:
#                      random cases through Kafka Streams 4.4.0's
#                      TopologyTestDriver and Sluice's test driver, compared
#                      byte for byte (tests/ksdiff/run.sh; the Java side is
#                      built with mvn once, cached); make ksdiff builds
#                      Sluice's side only
#   make examples      build examples/
#   make installcheck  install as a package would be (DESTDIR), move it
#                      elsewhere, hide the build tree and the dependency
#                      cache, then build examples/hello.c against it with
#                      pkg-config (shared, static) and CMake, and run it
#   make bench         build and run bench/engine
#   make bench-pipe    bench/pipe on a local broker: Sluice vs a plain loop
#   make bench-state   bench/state: count and word count through the driver,
#                      memory vs LMDB, record cache on and off
#   make bench-store   bench/store_memory: the memory store's point ops and
#                      range scans between writes over 1M keys
#   make bench-joins   bench/joins: stream-table, stream-stream and foreign-key
#                      joins through the driver (BENCH_JOINS_ARGS=--scale 10)
#   make bench-json    bench/json: a JSON record's parse and print, jansson vs
#                      the serde's own, and a JSON pipeline through the driver
#   make bench-eos     bench/eos on a local broker: exactly-once vs at-least-once
#   make bench-peers   Sluice, Kafka Streams 4.4.0 and Quix Streams side by
#                      side on a broker it starts (bench/peers/run; the full
#                      form); make bench-peers-short: tiny inputs, one run
#                      (checks the harness, not a benchmark; not in make test)
#   make install       PREFIX=/usr/local DESTDIR= LIBDIR= INCLUDEDIR=
#                      (sluice.h, libsluice.so.0, libsluice.a, sluice.pc,
#                      the CMake package Sluice; librdkafka is inside)
#   make clean
#
# Dependencies (Debian packages, librdkafka >= 2.14.2 from Debian's source
# package) are installed by scripts/deps.sh, which the build runs first; it
# is quick when all is there.

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
# In-tree programs (tests, examples, benchmarks) link build/libsluice.a and
# the cache's shared librdkafka; nothing of that is installed.
DEP_LIBS      = $(shell $(PKGCONF) --libs rdkafka jansson $(LMDB_PKG)) -Wl,-rpath,$(RK_PREFIX)/lib
# The installed libraries carry librdkafka inside, its symbols hidden (see
# the README, "Installing"): linked from its static archive, plus what it
# and jansson/LMDB need from the system, which is also what a static link
# of libsluice.a needs (sluice.pc's Libs.private).
RK_ARCHIVE    = $(RK_PREFIX)/lib/librdkafka.a
RK_VERSION    = $(shell $(PKGCONF) --modversion rdkafka)
# (each library once, at its last place, which keeps the link order right)
LIBS_PRIVATE  = $(shell printf '%s\n' $(shell $(PKGCONF) --libs jansson $(LMDB_PKG)) \
                  $(filter-out -L% -lrdkafka,$(shell $(PKGCONF) --static --libs rdkafka)) | \
                  tac | awk '!seen[$$0]++' | tac)
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
DIST     := $(BUILD)/dist
DIST_STLIB := $(DIST)/libsluice.a
DEPS_OK  := $(BUILD)/.deps-ok

TEST_SRCS := $(wildcard tests/test_*.c) tests/main.c tests/kafka_util.c
# the store contract test runs the example's custom store too
TEST_EXTRA := examples/custom_store.c
TEST_BIN  := $(BUILD)/tests/unit
EXAMPLES  := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCH     := $(BUILD)/bench/engine
BENCH_STATE := $(BUILD)/bench/state
BENCH_STORE := $(BUILD)/bench/store_memory
BENCH_RESTORE := $(BUILD)/bench/restore
BENCH_WINDOWS := $(BUILD)/bench/windows
BENCH_JOINS := $(BUILD)/bench/joins
BENCH_JSON := $(BUILD)/bench/json

.PHONY: peers all lib demo demo-features demo-enrich test check check-asan check-asan-clang check-valgrind \
        check-integration check-integration-all check-integration-windows check-integration-joins \
        check-chaos check-chaos-full repro-librdkafka \
        examples run-examples bench-pipe bench-eos bench-state bench-store bench-restore bench-windows bench-joins bench-json \
        bench-peers bench-peers-short installcheck bench install uninstall clean deps ksdiff check-ksdiff

all: lib
lib: $(BUILD)/libsluice.so $(STLIB)

deps: $(DEPS_OK)
$(DEPS_OK): scripts/deps.sh
	@scripts/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: lib/%.c lib/*.h include/sluice.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -c $< -o $@

# librdkafka linked in from its archive with its symbols hidden: the
# library exports sluice_* only, needs no run path, and a program with a
# librdkafka of its own keeps that one (tests/installcheck.sh checks all
# three).
$(SHLIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs $(LDFLAGS_ALL) -o $@ \
	    $(LIB_OBJS) $(RK_ARCHIVE) -Wl,--exclude-libs,librdkafka.a $(LIBS_PRIVATE)
	@echo "$@: librdkafka $(RK_VERSION) (Debian source $$(scripts/deps.sh --print-version)) inside"

$(BUILD)/libsluice.so: $(SHLIB)
	ln -sf libsluice.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(STLIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# The installed static library: Sluice's objects and the librdkafka members
# they use, partially linked into one object in which every symbol but the
# API (sluice_*) is made local, so that a program linking libsluice.a and a
# librdkafka (or cJSON, ...) of its own gets no clash.
$(DIST_STLIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -r -nostdlib -o $(DIST)/sluice.o $(LIB_OBJS) $(RK_ARCHIVE)
	nm -g --defined-only $(LIB_OBJS) | awk '$$3 ~ /^sluice_/ { print $$3 }' | \
	    sort -u >$(DIST)/exports.txt
	objcopy --keep-global-symbols=$(DIST)/exports.txt $(DIST)/sluice.o
	rm -f $@
	ar rcs $@ $(DIST)/sluice.o

# Tests and programs link the static library: no LD_LIBRARY_PATH needed.
$(TEST_BIN): $(TEST_SRCS) $(TEST_EXTRA) tests/*.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Itests -Wno-conversion $(TEST_SRCS) \
	    -DCUSTOM_STORE_NO_MAIN $(TEST_EXTRA) \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) $(CHECK_LIBS)

$(BUILD)/examples/%: examples/%.c $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

# what the integration test's programs share with it (-DFEATURES_NO_MAIN)
$(BUILD)/examples/features: examples/features_pipeline.h
# (-DENRICH_NO_MAIN)
$(BUILD)/examples/enrich: examples/enrich_pipeline.h

$(BENCH): bench/engine.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

INTEG_BIN := $(BUILD)/tests/integration/test_integration
INTEG_APP := $(BUILD)/tests/integration/app_upper
INTEG_WC  := $(BUILD)/tests/integration/app_wordcount
CHAOS_APP := $(BUILD)/tests/integration/app_chaos
CHAOS_TOOL := $(BUILD)/tests/integration/chaos_tool
INTEG_COPART := $(BUILD)/tests/integration/app_copart
INTEG_PLACE  := $(BUILD)/tests/integration/placement_it

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

# The windowed features on a broker (tests/integration/run_windows.sh):
# examples/features.c's topology, compiled into both programs without its
# main().
INTEG_WIN_BIN := $(BUILD)/tests/integration/test_windows_it
INTEG_FEAT    := $(BUILD)/tests/integration/app_features
FEATURES_SRC  := examples/features.c examples/features_pipeline.h

$(INTEG_WIN_BIN): tests/integration/test_windows_it.c $(FEATURES_SRC) tests/kafka_util.c tests/kafka_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Iexamples -Itests -DFEATURES_NO_MAIN \
	    tests/integration/test_windows_it.c examples/features.c tests/kafka_util.c \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) $(CHECK_LIBS) -lpthread

$(INTEG_FEAT): tests/integration/app_features.c tests/integration/app_common.h \
               $(FEATURES_SRC) $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iexamples -DFEATURES_NO_MAIN \
	    tests/integration/app_features.c examples/features.c \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)
# The joins on a broker (tests/integration/run_joins.sh):
# examples/enrich.c's topology, compiled into both programs without its
# main().
INTEG_JOIN_BIN := $(BUILD)/tests/integration/joins_it
INTEG_ENRICH   := $(BUILD)/tests/integration/app_enrich
ENRICH_SRC     := examples/enrich.c examples/enrich_pipeline.h

$(INTEG_JOIN_BIN): tests/integration/joins_it.c $(ENRICH_SRC) tests/kafka_util.c tests/kafka_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iexamples -Itests -DENRICH_NO_MAIN \
	    tests/integration/joins_it.c examples/enrich.c tests/kafka_util.c \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) -lpthread

$(INTEG_ENRICH): tests/integration/app_enrich.c tests/integration/app_common.h \
                 $(ENRICH_SRC) $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iexamples -DENRICH_NO_MAIN \
	    tests/integration/app_enrich.c examples/enrich.c \
	    -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(CHAOS_APP): tests/integration/app_chaos.c tests/integration/app_common.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(INTEG_COPART): tests/integration/app_copart.c tests/integration/app_common.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(INTEG_PLACE): tests/integration/placement_it.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(DEP_LIBS)

$(CHAOS_TOOL): tests/integration/chaos_tool.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(DEP_LIBS)

# Against $SLUICE_TEST_BOOTSTRAP if set, else a broker of its own (from
# Maven Central via scripts/kafka), stopped however the run ends. The
# brokers Sluice is tested on: the newest 4.x (both group protocols) and
# the last 3.x (classic; 3.x has no KIP-848).
KAFKA_VERSION     ?= 4.4.0
KAFKA_OLD_VERSION ?= 3.9.2
check-integration: $(INTEG_BIN) $(INTEG_APP) $(INTEG_WC) $(INTEG_WIN_BIN) $(INTEG_FEAT) \
                   $(INTEG_COPART) $(INTEG_PLACE) $(INTEG_JOIN_BIN) $(INTEG_ENRICH)
	BUILD=$(BUILD) KAFKA_VERSION=$(KAFKA_VERSION) tests/integration/run.sh \
	    $(if $(SLUICE_TEST_BOOTSTRAP),,--local-broker)
	$(MAKE) check-integration-windows
	$(MAKE) check-integration-joins

# The windows suite alone (a broker of its own too, unless
# $SLUICE_TEST_BOOTSTRAP is set)
check-integration-windows: $(INTEG_WIN_BIN) $(INTEG_FEAT)
	BUILD=$(BUILD) KAFKA_VERSION=$(KAFKA_VERSION) tests/integration/run_windows.sh \
	    $(if $(SLUICE_TEST_BOOTSTRAP),,--local-broker)

# The joins suite alone (tests/integration/run_joins.sh; a broker of its
# own too, unless $SLUICE_TEST_BOOTSTRAP is set)
check-integration-joins: $(INTEG_JOIN_BIN) $(INTEG_ENRICH)
	BUILD=$(BUILD) KAFKA_VERSION=$(KAFKA_VERSION) tests/integration/run_joins.sh \
	    $(if $(SLUICE_TEST_BOOTSTRAP),,--local-broker)

check-integration-all: $(INTEG_BIN) $(INTEG_APP) $(INTEG_WC) $(INTEG_WIN_BIN) $(INTEG_FEAT) \
                   $(INTEG_COPART) $(INTEG_PLACE) $(INTEG_JOIN_BIN) $(INTEG_ENRICH)
	$(MAKE) check-integration KAFKA_VERSION=$(KAFKA_VERSION)
	$(if $(SLUICE_TEST_BOOTSTRAP),,$(MAKE) check-integration KAFKA_VERSION=$(KAFKA_OLD_VERSION))

# The differential test against Kafka Streams (tests/ksdiff/README).
KSDIFF_OBJ := $(BUILD)/tests/ksdiff/sluice_run.o
KSDIFF_BIN := $(BUILD)/tests/ksdiff/sluice_run

$(KSDIFF_OBJ): tests/ksdiff/sluice_run.c include/sluice.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(KSDIFF_BIN): $(KSDIFF_OBJ) $(STLIB)
	$(CC) $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

ksdiff: $(KSDIFF_BIN)

check-ksdiff: $(KSDIFF_BIN)
	BUILD=$(BUILD) tests/ksdiff/run.sh
# librdkafka #5456 / #5511: does send_offsets_to_transaction() keep its
# timeout when the group coordinator goes away? (mock cluster, ~40 s)
REPRO := $(BUILD)/tests/repro_send_offsets
$(REPRO): tests/repro_send_offsets.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LDFLAGS_ALL) $(DEP_LIBS) -lpthread

repro-librdkafka: $(REPRO)
	$(REPRO)

# Exactly-once under crashes on a 3-broker cluster it starts
# (tests/integration/chaos.sh): the short form make test runs, and the
# full one (1M records, >= 10 instance kills, >= 2 broker kills).
check-chaos: $(CHAOS_APP) $(CHAOS_TOOL)
	BUILD=$(BUILD) KAFKA_VERSION=$(KAFKA_VERSION) tests/integration/chaos.sh --short

check-chaos-full: $(CHAOS_APP) $(CHAOS_TOOL)
	BUILD=$(BUILD) KAFKA_VERSION=$(KAFKA_VERSION) tests/integration/chaos.sh --uncommitted

examples: $(EXAMPLES)

demo: $(BUILD)/examples/wordcount
	$(BUILD)/examples/wordcount --demo

demo-features: $(BUILD)/examples/features
	$(BUILD)/examples/features --demo

demo-enrich: $(BUILD)/examples/enrich
	$(BUILD)/examples/enrich --demo

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

# As a user on another machine would: tests/installcheck.sh says how.
installcheck: lib $(DIST_STLIB)
	BUILD=$(BUILD) tests/installcheck.sh

bench: $(BENCH)
	$(BENCH)

$(BENCH_STATE): bench/state.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_WINDOWS): bench/windows.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_JOINS): bench/joins.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_JSON): bench/json.c bench/bench_util.h bench/peers/json_workload.h lib/json.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_RESTORE): bench/restore.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

$(BENCH_STORE): bench/store_memory.c bench/bench_util.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS)

# The memory store alone over 1M keys: point operations, and 10-key range
# scans with a write before each
bench-store: $(BENCH_STORE)
	$(BENCH_STORE)

# Stores through the test driver: per-key count and word count over 1M keys,
# memory vs LMDB, cache on/off; resident memory per 1M keys
bench-state: $(BENCH_STATE)
	$(BENCH_STATE)

# Windowed counts through the test driver: tumbling, sliding and session
# windows over 1M keys and 10M records, memory vs LMDB
bench-windows: $(BENCH_WINDOWS)
	$(BENCH_WINDOWS)

# Joins through the test driver: stream-table enrichment (1M table keys,
# 10M records, memory vs LMDB, RSS per 1M keys), a stream-stream join in a
# 1-minute window, a foreign-key join; BENCH_JOINS_ARGS="--scale 10" for a
# quick run
bench-joins: $(BENCH_JOINS)
	$(BENCH_JOINS) $(BENCH_JOINS_ARGS)

# A JSON record's cost: jansson's parse and print vs the JSON serde's own
# (lib/json.c), and the peers' json pipeline through the test driver
bench-json: $(BENCH_JSON)
	$(BENCH_JSON)

# Restore rate from a 5M-record changelog on a broker it starts
bench-restore:
	bench/on-broker.sh restore

# Sluice against a plain librdkafka loop on a broker it starts (scripts/kafka)
bench-pipe:
	bench/on-broker.sh pipe

# exactly_once_v2 against at_least_once, same app, same broker (bench/eos.c)
bench-eos:
	bench/on-broker.sh eos

# Side by side with Kafka Streams and Quix Streams (bench/peers/run).
PEERS_BIN := $(BUILD)/bench/peers/sluice_peer $(BUILD)/bench/peers/peer_tool
$(BUILD)/bench/peers/%: bench/peers/%.c bench/bench_util.h bench/peers/json_workload.h $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -O2 $< -o $@ $(LDFLAGS_ALL) $(STLIB) $(DEP_LIBS) -lpthread

peers: $(PEERS_BIN)

bench-peers: $(PEERS_BIN)
	BUILD=$(BUILD) bench/peers/run

bench-peers-short: $(PEERS_BIN)
	BUILD=$(BUILD) bench/peers/run --short

# The examples run as a user would run them, checked by what they print.
run-examples: examples
	$(BUILD)/examples/orders | grep -q '"amount_eur":110.4'
	printf 'hello\nworld\n' | $(BUILD)/examples/host_loop | tee $(BUILD)/host_loop.out
	grep -qx 'HELLO   (partition [0-9], offset 0)' $(BUILD)/host_loop.out
	grep -q 'processed 2 of 2 lines' $(BUILD)/host_loop.out
	$(BUILD)/examples/features --demo >$(BUILD)/features.out
	tail -1 $(BUILD)/features.out | grep -qx "every feature's last value equals the test driver's"
	$(BUILD)/examples/enrich --demo >$(BUILD)/enrich.out
	sed -n '/^piped/,$$p' $(BUILD)/enrich.out | diff -u examples/enrich.expected -

# In this order, so that the last lines are Check's summary.
test:
	$(MAKE) demo
	$(MAKE) run-examples
	$(MAKE) installcheck
	$(MAKE) check
	$(MAKE) check-asan
	$(MAKE) check-asan-clang
	$(MAKE) fuzz
	$(MAKE) check-ksdiff
	$(MAKE) check-chaos
	$(MAKE) check-integration-all

# sluice.pc and the CMake package for this PREFIX / LIBDIR / INCLUDEDIR:
# $(call install_subst,template,output). The CMake files find the library
# relative to themselves (a moved tree still works); sluice.pc names
# absolute paths, as pkg-config files do. A placeholder left is an error.
empty :=
space := $(empty) $(empty)
CMAKEDIR = $(LIBDIR)/cmake/Sluice
DOCDIR  ?= $(PREFIX)/share/doc/sluice
GEN      = $(BUILD)/gen
define install_subst
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@SOVERSION@|$(SOVERSION)|g' -e 's|@RK_VERSION@|$(RK_VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(LIBS_PRIVATE))|g' \
	    -e 's|@CMAKE_LIBS_PRIVATE@|$(subst $(space),;,$(strip $(LIBS_PRIVATE)))|g' \
	    -e 's|@CMAKE_REL_LIBDIR@|$(shell realpath -sm --relative-to=$(CMAKEDIR) $(LIBDIR))|g' \
	    -e 's|@CMAKE_REL_INCLUDEDIR@|$(shell realpath -sm --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|g' \
	    $(1) >$(2)
	@if grep -n '@[A-Za-z_]*@' $(2); then echo "$(2): placeholder left" >&2; rm -f $(2); exit 1; fi
endef

install: lib $(DIST_STLIB)
	@mkdir -p $(GEN)
	$(call install_subst,pkgconfig/sluice.pc.in,$(GEN)/sluice.pc)
	$(call install_subst,cmake/SluiceConfig.cmake.in,$(GEN)/SluiceConfig.cmake)
	$(call install_subst,cmake/SluiceConfigVersion.cmake.in,$(GEN)/SluiceConfigVersion.cmake)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(DOCDIR)
	install -m 644 include/sluice.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libsluice.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsluice.so
	install -m 644 $(DIST_STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(GEN)/sluice.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 $(GEN)/SluiceConfig.cmake $(GEN)/SluiceConfigVersion.cmake \
	    $(DESTDIR)$(CMAKEDIR)/
	install -m 644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	install -m 644 $(RK_PREFIX)/share/doc/librdkafka/LICENSES.txt \
	    $(DESTDIR)$(DOCDIR)/LICENSES.librdkafka.txt

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/sluice.h $(DESTDIR)$(LIBDIR)/libsluice.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/sluice.pc \
	      $(DESTDIR)$(CMAKEDIR)/SluiceConfig.cmake \
	      $(DESTDIR)$(CMAKEDIR)/SluiceConfigVersion.cmake \
	      $(DESTDIR)$(DOCDIR)/LICENSE $(DESTDIR)$(DOCDIR)/LICENSES.librdkafka.txt
	-rmdir $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf build
