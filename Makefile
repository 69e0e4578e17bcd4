# mmlab: the two commands are `make run` and `make test`. Every target
# installs what is missing first (scripts/setup.sh, idempotent).
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
GEN := -G Ninja
PY := /usr/bin/python3

.PHONY: all setup configure build test unit tsa tsan pytest bench run lint format clean help boot anchor test-browser test-slurm fuzz fuzz-smoke

all: build

help:
	@echo "make run    build, run the default matrix (workloads/matrices/default.toml) through bin/mmlab into results/"
	@echo "make test   build everything and run every test (unit, reference model, QEMU boot tests, TSan, -Wthread-safety)"
	@echo "make boot   boot the kernel once: make boot ARGS='--init /hello' (build/bin/mmlab boot --help)"
	@echo "make bench  the Google Benchmark microbenchmarks only"
	@echo "make anchor lat_proc on our kernel and on Debian's Linux PAE, same binaries, same QEMU (a matrix and its report)"
	@echo "make lint   clang-format check"
	@echo "make test-browser  only the report rendered in headless Chromium (also part of make test)"

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# The hosted mm core + tests + benchmarks, the freestanding i386 core (its
# runtime-free check runs as a post-build step), the kernel
# (build/kernel/mmlab-kernel.elf), the guest programs, busybox and the test
# initrd (build/workloads/).
build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# clang with -Wthread-safety -Werror on the hosted mm core and on the
# kernel with the x86 arch code (compiled for i686, not linked): a lock
# annotation that does not hold fails the build. One file a unit (no unity
# build), so every mm file also compiles on its own.
tsa: setup
	@cmake -S . -B $(BUILD)-tsa $(GEN) -DCMAKE_CXX_COMPILER=clang++ -DMMLAB_TESTS=OFF -DMMLAB_BENCH=OFF -DMMLAB_UNITY=OFF \
	  -DMMLAB_FREESTANDING=OFF -DMMLAB_GUEST=OFF -DMMLAB_KERNEL_TSA=ON >/dev/null
	@cmake --build $(BUILD)-tsa -j $(JOBS) --target mm_hosted kernel_tsa
	@echo "tsa: clang -Wthread-safety clean (mm core, kernel, arch/x86_pae)"

# The concurrency tests again under ThreadSanitizer.
tsan: setup
	@cmake -S . -B $(BUILD)-tsan $(GEN) -DMMLAB_TSAN=ON -DMMLAB_BENCH=OFF -DMMLAB_FREESTANDING=OFF \
	  -DMMLAB_GUEST=OFF >/dev/null
	@cmake --build $(BUILD)-tsan -j $(JOBS) --target mm_concurrency_tests
	@cd $(BUILD)-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest -L concurrency --output-on-failure -j $(JOBS)

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# One boot, console on the terminal, then the records:
#   make boot ARGS='--toggle mm.pmd_prealloc=off --init /tests/t_exec'
#   make boot ARGS='--kernel linux-pae -- lat_proc -n 20 fork'
boot: build
	@$(BUILD)/bin/mmlab boot --records $(ARGS)

# Our kernel against Debian's Linux PAE kernel (docs/linux-anchor.md): the
# anchor matrix and its report, in results/anchor-TIME/.
anchor: build
	@$(MAKE) --no-print-directory run MATRIX=workloads/matrices/anchor.toml

# Python: the tools' and the analysis's tests (synthetic and checked-in result sets).
pytest: setup
	@$(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) --dist load scripts/tests analysis/tests

# libFuzzer on every parser of untrusted bytes (fuzz/, docs/reliability.md):
# a few seconds each in make test, FUZZ_SECONDS each with make fuzz.
FUZZ_SECONDS ?= 300
fuzz-smoke: setup
	@bash scripts/fuzz.sh 6
fuzz: setup
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

# The Slurm path: a one-node Slurm started by hand, a 4-shard job array,
# the merge job, every cell exactly once (loader/slurm/test_slurm.sh).
test-slurm: build
	@bash loader/slurm/test_slurm.sh

# The report rendered by a real browser (headless Chromium): a screenshot that
# must not be blank. Part of `make pytest` (so of `make test`); this target
# runs it alone.
test-browser: setup
	@$(PY) -m pytest -q -p no:cacheprovider analysis/tests/browser_test.py

test: lint unit tsa tsan pytest test-slurm fuzz-smoke

bench: build
	@bash scripts/bench.sh $(BUILD)

# The default matrix (workloads/matrices/default.toml) through the loader,
# into results/default-<UTC time>/, then the report when the analysis is in
# the tree (issue 7). MATRIX=... runs another matrix.
MATRIX ?= workloads/matrices/default.toml
run: build
	@out=results/$$(basename $(MATRIX) .toml)-$$(date -u +%Y%m%dT%H%M%SZ); \
	  $(BUILD)/bin/mmlab run $(MATRIX) -o $$out; rc=$$?; \
	  if [ -f analysis/__main__.py ]; then $(BUILD)/bin/mmlab report $$out || rc=1; \
	  else echo "run: the result set is $$out (cells.jsonl, manifest.json); the report comes with the analysis (analysis/, not in this tree yet)"; fi; \
	  exit $$rc

lint: setup
	@files=$$(git ls-files '*.cc' '*.h'); clang-format --dry-run -Werror $$files && echo "lint: clang-format clean"
	@black --check -q -l 120 $$(git ls-files '*.py') && echo "lint: black clean"

format: setup
	@clang-format -i $$(git ls-files '*.cc' '*.h')
	@black -q -l 120 $$(git ls-files '*.py')

clean:
	rm -rf $(BUILD) $(BUILD)-tsa $(BUILD)-tsan $(BUILD)-fuzz
