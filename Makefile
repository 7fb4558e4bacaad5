# Entry points for people; CMake does the building (see CMakeLists.txt).
#   make demo      set up, build, load real data, read it back, verify
#   make check     set up, build, run every test through CTest
#   make sanitize  the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan      the tests under ThreadSanitizer

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build

.PHONY: all setup build demo check sanitize tsan fuzz clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)/strata

check: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

sanitize: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRATA_SANITIZE=address,undefined >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE slow

tsan: setup
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DSTRATA_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) -LE slow

fuzz: setup
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSTRATA_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@echo "fuzzers in build-fuzz/: fuzz_loadstream, fuzz_pack, fuzz_delta (run with a corpus dir, e.g. tests/fuzz/corpus/loadstream)"

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
