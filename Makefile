# Rampart: `make run` to try it, `make test` to prove it.
BUILD      ?= build
ASAN_BUILD ?= build-asan
CLANG_BUILD ?= build-clang
FUZZ_BUILD ?= build-fuzz
# fuzz-long: seconds each harness fuzzes (make test fuzzes each briefly)
FUZZ_SECONDS ?= 600
JOBS       ?= $(shell nproc)

.PHONY: all deps build run test test-fast test-normal test-asan test-fuzz fuzz-long build-clang clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/demo-run.sh $(BUILD)/rampart

# The whole suite: gcc build, clang build (warnings are errors in both),
# a brief libFuzzer run of every fuzz harness (clang build), the unit tests,
# fuzz replays and real-speed integration tests on the optimised build, then
# every test under ASan+UBSan (both replay the fuzz corpora). ctest's
# summary line of the whole ASan suite closes the output.
test: build build-clang test-fuzz test-fast test-asan

# Optimised build: everything but the integration tests, plus those whose
# subject is real speed (CMakeLists.txt, RAMPART_REALSPEED_TESTS).
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j 2 -LE integration
	@cd $(BUILD) && ctest --output-on-failure -j 2 -L realspeed

# Every test on the optimised build (not part of make test: the ASan run
# covers the integration tests).
test-normal: build
	@cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRAMPART_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2

# Each tests/fuzz harness as a real libFuzzer binary, fuzzing a copy of its
# corpus for RAMPART_FUZZ_TIME seconds (CMakeLists.txt, fuzz block).
test-fuzz: build-clang
	@cd $(CLANG_BUILD) && ctest -R '^fuzz_run_' --output-on-failure -j 2

build-clang: deps
	@CC=clang cmake -S . -B $(CLANG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(CLANG_BUILD) -j $(JOBS)

# Long fuzzing, not part of make test: every harness for FUZZ_SECONDS, in
# its own build directory (crashes under $(FUZZ_BUILD)/fuzz-work/NAME/crashes).
fuzz-long: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DRAMPART_FUZZ_TIME=$(FUZZ_SECONDS) -DRAMPART_FUZZ_RUNS=-1 >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@cd $(FUZZ_BUILD) && ctest -R '^fuzz_run_' --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CLANG_BUILD) $(FUZZ_BUILD)
