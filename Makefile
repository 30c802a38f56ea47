# lmech: the two set-up commands are `make demo` and `make test` (see README.md).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps build test demo asan-test format format-check fuzz-build fuzz fuzz-campaign bench clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# Every test: unit tests (Criterion), CLI tests, fuzz-corpus replays.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The main job: train the demo network on all of Fashion-MNIST and record the run.
demo: build
	bash scripts/demo.sh $(BUILD)/lmech

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-test: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLM_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

# The clang build of everything with the libFuzzer targets (CI builds it: clang's warnings,
# e.g. -Wdouble-promotion, differ from gcc's)
fuzz-build: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLM_FUZZ=ON
	cmake --build build-fuzz -j$(JOBS)

# libFuzzer targets (clang), 60 s each: make fuzz
fuzz: fuzz-build
	for f in build-fuzz/tests/fuzz/fuzz_*; do case $$f in *_replay) continue;; esac; \
	  n=$$(basename $$f | sed 's/^fuzz_//'); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  $$f -max_total_time=60 -rss_limit_mb=2048 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

# The long fuzz campaign (docs/reliability.md): each target for 10 million executions (RUNS=N).
fuzz-campaign: fuzz-build
	bash scripts/fuzz-campaign.sh -n $(or $(RUNS),10000000)

# Benchmarks against PyTorch (needs scripts/install-deps.sh --bench).
bench: build
	bash scripts/install-deps.sh --bench
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
