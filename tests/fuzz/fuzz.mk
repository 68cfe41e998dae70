# tests/fuzz/fuzz.mk - libFuzzer targets, one per parser that a user's data
# or a crash can reach (included from the Makefile).
#
#   make fuzz        each target for FUZZ_SECONDS (30) from its seed corpus;
#                    part of `make test`; a crash, leak or failed check fails it
#   make fuzz-long   the same for 600 s each (FUZZ_SECONDS=... to change)
#
# The library is built again with clang -fsanitize=fuzzer-no-link,address,
# undefined into build/fuzz; the targets link it with -fsanitize=fuzzer.
# Seeds live in tests/fuzz/corpus/<target>/ (hand-written, kept small; with
# tests/fuzz/<target>.dict, tokens for code libFuzzer cannot see); what
# a run discovers goes to build/fuzz/corpus/<target>/, a crashing input to
# build/fuzz/artifacts/.

FUZZ_TARGETS := json conf change checkpoint
FUZZ_SECONDS ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_FLAGS   ?=

.PHONY: fuzz fuzz-long fuzz-build fuzz-bins $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=600

fuzz-build:
	scripts/deps.sh --clang
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang SAN=1 OPT="-O1 -g" \
	    CFLAGS=-fsanitize=fuzzer-no-link fuzz-bins

# only inside the sub-make above (BUILD, CC and the flags set there)
fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(STLIB)
	$(CC) $(CFLAGS_ALL) -Ilib -fsanitize=fuzzer $< -o $@ $(LDFLAGS_ALL) \
	    $(STLIB) $(DEP_LIBS)

# -max_total_time stops a clean run with status 0; a crash, a leak, an
# abort() of a failed check or a 10 s input exits non-zero. The log's end
# (libFuzzer's stats, or the report and the input's path) is printed.
$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/corpus/$* $(FUZZ_BUILD)/artifacts
	@echo "fuzz $*: $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/$*.log)"
	@$(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$*- \
	    $(if $(wildcard tests/fuzz/$*.dict),-dict=tests/fuzz/$*.dict) \
	    $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus/$* tests/fuzz/corpus/$* \
	    >$(FUZZ_BUILD)/$*.log 2>&1 || \
	    { tail -n 60 $(FUZZ_BUILD)/$*.log; echo "fuzz $*: FAILED"; exit 1; }
	@grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added))' \
	    $(FUZZ_BUILD)/$*.log | sed 's/^/fuzz $*: /'
