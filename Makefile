# orbit — project commands.
#
#   make build             build liborbit.so / liborbit.a (cargo build --release, driven by CMake)
#   make install           install lib, orbit.h, orbit.pc and the CMake package into $(PREFIX)
#                          (default /usr/local; DESTDIR is honoured)
#   make stage             install into ./stage (what the C tests and the demo build against)
#   make demo              build, stage, compile the C and Go demo workers against it, run examples/demo.py:
#                          a fleet of C, Python and Go processes, the leader killed with SIGKILL mid-run
#   make test              what CI runs: fmt-check, clippy, rust-test, loom, c-test, c-test-valgrind,
#                          c-test-drd, c-test-asan, cpp-test, py-test, go-test, crosslang, examples,
#                          readme-check, cli-test, demo (it checks itself), fuzz-ci,
#                          bench-peers-quick (the peer harness runs; no number is judged)
#   make fmt-check         cargo fmt --check
#   make clippy            cargo clippy --all-targets -- -D warnings
#   make rust-test         cargo test (every Rust test)
#   make c-test            the C test suite (c-tests/, ctest) against ./stage
#   make c-test-valgrind   the same suite once more under valgrind memcheck
#   make c-test-asan       the same suite built with -fsanitize=address,undefined
#   make c-test-drd        the multi-threaded ring test under valgrind DRD (data races)
#   make loom              the loom models of the ring and cache protocols (--cfg loom, own target dir)
#   make py-test           pip-install bindings/python into a venv and run its pytest suite against ./stage
#   make go-test           go vet + go test (once with -race) of bindings/go against ./stage
#   make cli-test          the orbit command line: tests/cli.rs, then the staged bin/orbit checked by
#                          tests/cli-py (Prometheus output through prometheus_client's parser, top in tmux)
#   make cpp-test          the GoogleTest suite of orbit.hpp (bindings/cpp/tests) against ./stage, by ctest
#   make crosslang         C, C++, Go, Python and Rust processes on one fleet: ring, cache, bus, lease
#                          (tests/crosslang; agents built against ./stage)
#   make examples          build the tours in examples/{c,cpp,go,python} against ./stage and run each
#   make readme-check      build and run every C, C++, Go and Python program of README.md against ./stage
#   make fuzz              build the fuzz targets (fuzz/, stable Rust + libFuzzer) and run each
#                          for FUZZ_SECS seconds (default 25) over the committed seed corpus
#   make fuzz-ci           the same, 20 s per target with a fixed seed (FUZZ_SEED=1)
#   make soak              mixed workload with random SIGKILLs and restarts for SOAK_SECS (default 600)
#   make bench             criterion benches and the cross-process ping-pong
#   make bench-peers       orbit against its peers (benches/peers, a crate of its own: iceoryx2, disruptor,
#                          kekbit, unix socket, pipe, Redis, LMDB): results.json, PNG plots, the tables of
#                          BENCHMARKS.md; installs redis-server (apt-get) and matplotlib (a venv) if missing
#   make bench-peers-quick the same harness in quick mode (part of make test: every peer builds and every
#                          measurement yields a result; judges no numbers)
#   make bench-bindings    per-call cost of every binding against the C ABI in one run: ring write, cursor
#                          next, cache get, one call per op and batched, in C (the baseline), C++, Go and
#                          Python, plus Python Cache.get against redis-py to a redis-server it starts on
#                          loopback (benches/bindings): results.json and the bindings section of BENCHMARKS.md;
#                          installs redis-server (apt-get) and redis-py (the py-test venv) if missing
#   make clean             remove build/ and stage/ (cargo's target/ stays)

PREFIX ?= /usr/local
CARGO ?= cargo
CMAKE ?= cmake
CTEST ?= ctest
BUILD := build
STAGE := $(CURDIR)/stage
GENERATOR := $(if $(shell command -v ninja),Ninja,Unix Makefiles)
CONFIGURE = $(CMAKE) -G "$(GENERATOR)" -Wno-dev
STAGE_PKG_CONFIG = PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config
STRICT_C = -std=c99 -Wall -Wextra -Werror -pedantic
STRICT_CXX = -std=c++17 -Wall -Wextra -Werror -pedantic
# Compile and link flags of a program built against the stage, with an rpath to it.
STAGE_CFLAGS = $$($(STAGE_PKG_CONFIG) --cflags --libs orbit) -Wl,-rpath,$$($(STAGE_PKG_CONFIG) --variable=libdir orbit)

# The targets share build directories and cargo's target/: run them one at a time.
.NOTPARALLEL:
.PHONY: build install stage demo test fmt-check clippy rust-test c-test c-test-valgrind \
        c-test-build c-test-asan c-test-drd clean loom py-venv py-test go-test cpp-test crosslang \
        examples readme-check cli-test bench fuzz fuzz-build fuzz-ci soak bench-peers bench-peers-quick \
        bench-peers-deps bench-redis-server bench-bindings bench-bindings-deps

build:
	$(CONFIGURE) -S . -B $(BUILD)/stage -DCMAKE_INSTALL_PREFIX=$(STAGE)
	$(CMAKE) --build $(BUILD)/stage

# A build directory of its own, so GNUInstallDirs picks the libdir for PREFIX.
install:
	$(CONFIGURE) -S . -B $(BUILD)/install -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	$(CMAKE) --build $(BUILD)/install
	$(CMAKE) --install $(BUILD)/install

stage: build
	rm -rf $(STAGE)
	$(CMAKE) --install $(BUILD)/stage

demo: stage
	mkdir -p $(BUILD)/demo
	for prog in demo_worker ring_writer ring_reader; do \
	  $(CC) $(STRICT_C) -o $(BUILD)/demo/$$prog examples/c/$$prog.c $(STAGE_CFLAGS) || exit 1; \
	done
	if command -v go >/dev/null; then \
	  cd examples/go && $(GO_ENV) go vet ./demo_worker && \
	  $(GO_BUILD_ENV) go build -o $(CURDIR)/$(BUILD)/demo/go_demo_worker ./demo_worker || exit 1; \
	else echo "make demo: no go toolchain, the Go worker sits out"; rm -f $(BUILD)/demo/go_demo_worker; fi
	python3 examples/demo.py --stage $(STAGE) --bin $(BUILD)/demo $(DEMO_ARGS)

test: fmt-check clippy rust-test loom c-test c-test-valgrind c-test-drd c-test-asan cpp-test py-test \
      go-test crosslang examples readme-check cli-test demo fuzz-ci bench-peers-quick
	@echo "make test: all passed"

# Bounded preemptions keep the exhaustive search to seconds (crossbeam does the same).
loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=$(CURDIR)/target/loom \
	  $(CARGO) test --release --lib

cpp-test: stage
	$(CONFIGURE) -S bindings/cpp/tests -B $(BUILD)/cpp-tests -DCMAKE_PREFIX_PATH=$(STAGE)
	$(CMAKE) --build $(BUILD)/cpp-tests
	$(CTEST) --test-dir $(BUILD)/cpp-tests --output-on-failure --no-tests=error

PY_VENV := $(BUILD)/venv
PY_ENV = ORBIT_LIBRARY=$(STAGE)/lib/liborbit.so
py-venv: stage
	python3 -m venv --system-site-packages $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet ./bindings/python

py-test: py-venv
	cd bindings/python/tests && ORBIT_LIBRARY=$(STAGE)/lib/liborbit.so \
	  $(CURDIR)/$(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider .

# prometheus_client's text-format parser checks `orbit stat --prometheus`; tmux drives `orbit top`.
cli-test: py-venv
	$(CARGO) test --test cli
	$(PY_VENV)/bin/pip install --quiet 'prometheus_client>=0.20,<1'
	cd tests/cli-py && $(PY_ENV) ORBIT_CLI=$(STAGE)/bin/orbit \
	  $(CURDIR)/$(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider .

GO_ENV = PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig LD_LIBRARY_PATH=$(STAGE)/lib
go-test: stage
	cd bindings/go && $(GO_ENV) go vet ./...
	cd bindings/go && $(GO_ENV) go test -count=1 ./...
	cd bindings/go && $(GO_ENV) go test -count=1 -race ./...

# Go programs built against the stage run without LD_LIBRARY_PATH.
GO_BUILD_ENV = $(GO_ENV) CGO_LDFLAGS="-Wl,-rpath,$(STAGE)/lib"

XL := $(BUILD)/crosslang
crosslang: py-venv
	mkdir -p $(XL)
	$(CC) $(STRICT_C) -o $(XL)/agent_c tests/crosslang/agent.c $(STAGE_CFLAGS)
	$(CXX) $(STRICT_CXX) -o $(XL)/agent_cpp tests/crosslang/agent.cpp $(STAGE_CFLAGS)
	cd tests/crosslang/go && $(GO_ENV) go vet . && $(GO_BUILD_ENV) go build -o $(CURDIR)/$(XL)/agent_go .
	$(CARGO) build --release --example crosslang_agent
	$(PY_ENV) $(PY_VENV)/bin/python tests/crosslang/run.py \
	  --agent c=$(XL)/agent_c --agent cpp=$(XL)/agent_cpp --agent go=$(XL)/agent_go \
	  --agent "python=$(PY_VENV)/bin/python tests/crosslang/agent.py" \
	  --agent rust=target/release/examples/crosslang_agent

EX := $(BUILD)/examples
examples: py-venv
	mkdir -p $(EX)
	$(CC) $(STRICT_C) -o $(EX)/tour_c examples/c/tour.c $(STAGE_CFLAGS)
	$(CONFIGURE) -S examples/cpp -B $(EX)/cpp -DCMAKE_PREFIX_PATH=$(STAGE)
	$(CMAKE) --build $(EX)/cpp
	cd examples/go && $(GO_ENV) go vet . && $(GO_BUILD_ENV) go build -o $(CURDIR)/$(EX)/tour_go .
	fleet=tour-$$$$; \
	for run in "$(EX)/tour_c" "$(EX)/cpp/tour" "$(EX)/tour_go" \
	           "$(PY_ENV) $(PY_VENV)/bin/python examples/python/tour.py"; do \
	  echo "--- $$run"; env $$run $$fleet || exit 1; \
	done

readme-check: py-venv
	$(PY_VENV)/bin/python tests/readme_programs.py --stage $(STAGE) --python $(PY_VENV)/bin/python

bench:
	$(CARGO) bench

# The peer crates build in benches/peers/target, never in the library's test build.
PEERS := benches/peers
PEERS_BIN := $(PEERS)/target/release/orbit-peers
PEERS_VENV := $(PEERS)/.venv
APT_GET = $$(command -v sudo) apt-get

bench-redis-server:
	command -v redis-server >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq redis-server; }

bench-peers-deps: bench-redis-server
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -c 'import matplotlib' 2>/dev/null || $(PEERS_VENV)/bin/pip install --quiet matplotlib
	cd $(PEERS) && $(CARGO) build --release -j2

bench-peers: bench-peers-deps
	$(PEERS_BIN)
	$(PEERS_VENV)/bin/python $(PEERS)/plot.py $(PEERS)/results/results.json --markdown BENCHMARKS.md

bench-peers-quick: bench-peers-deps
	$(PEERS_BIN) --quick
	$(PEERS_VENV)/bin/python $(PEERS)/plot.py $(PEERS)/results/quick.json --check --outdir $(BUILD)/bench-peers-quick

# One binary per language built against the stage (optimised, like a user's
# build); run.py interleaves them and takes medians, table.py writes the table.
BB := $(BUILD)/bench-bindings
bench-bindings-deps: bench-redis-server py-venv
	$(PY_VENV)/bin/python -c 'import redis' 2>/dev/null || $(PY_VENV)/bin/pip install --quiet 'redis>=5,<6'

bench-bindings: bench-bindings-deps
	mkdir -p $(BB)
	$(CC) -O2 $(STRICT_C) -o $(BB)/bench_c benches/bindings/bench.c $(STAGE_CFLAGS)
	$(CXX) -O2 $(STRICT_CXX) -o $(BB)/bench_cpp benches/bindings/bench.cpp $(STAGE_CFLAGS)
	cd benches/bindings/go && $(GO_ENV) go vet . && $(GO_BUILD_ENV) go build -o $(CURDIR)/$(BB)/bench_go .
	$(PY_ENV) $(PY_VENV)/bin/python benches/bindings/run.py --c $(BB)/bench_c --cpp $(BB)/bench_cpp \
	  --go $(BB)/bench_go --python "$(PY_VENV)/bin/python benches/bindings/bench_py.py" \
	  --redis-server $$(command -v redis-server) --out benches/bindings/results.json $(BENCH_BINDINGS_ARGS)
	$(PY_VENV)/bin/python benches/bindings/table.py benches/bindings/results.json --markdown BENCHMARKS.md

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

rust-test:
	$(CARGO) test

c-test-build: stage
	$(CONFIGURE) -S c-tests -B $(BUILD)/c-tests -DCMAKE_PREFIX_PATH=$(STAGE)
	$(CMAKE) --build $(BUILD)/c-tests

c-test: c-test-build
	$(CTEST) --test-dir $(BUILD)/c-tests -LE "valgrind|drd" --output-on-failure --no-tests=error

c-test-valgrind: c-test-build
	$(CTEST) --test-dir $(BUILD)/c-tests -L valgrind --output-on-failure --no-tests=error

# Writer and reader threads on one ring under DRD (c-tests/drd.supp says which
# library reports are expected, and why).
c-test-drd: c-test-build
	$(CTEST) --test-dir $(BUILD)/c-tests -L drd --output-on-failure --no-tests=error

# ASan's leak checker needs ptrace, which some sandboxes deny; memcheck covers leaks.
c-test-asan: stage
	$(CONFIGURE) -S c-tests -B $(BUILD)/c-tests-asan -DCMAKE_PREFIX_PATH=$(STAGE) -DORBIT_SANITIZE=ON
	$(CMAKE) --build $(BUILD)/c-tests-asan
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(CTEST) --test-dir $(BUILD)/c-tests-asan -LE valgrind --output-on-failure --no-tests=error

# Coverage-guided fuzzing on stable Rust, without cargo-fuzz: the sanitizer-
# coverage flags cargo-fuzz passes (libFuzzer comes from the libfuzzer-sys
# crate, compiled with the system C++ compiler). No AddressSanitizer (that
# needs nightly): out-of-bounds accesses in safe code panic, debug assertions
# and overflow checks are on, and a wild read past a mapping faults.
FUZZ_TARGETS := geometry segment_file text
FUZZ_SECS ?= 25
# 0: a random seed per run (libFuzzer's default); fuzz-ci fixes it so a CI
# failure replays.
FUZZ_SEED ?= 0
FUZZ_HOST = $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_DIR := $(CURDIR)/target/fuzz
FUZZ_RUSTFLAGS := --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks

fuzz-build:
	cd fuzz && RUSTFLAGS="$(FUZZ_RUSTFLAGS)" CARGO_TARGET_DIR=$(FUZZ_DIR) \
	  $(CARGO) build --release --target $(FUZZ_HOST) --bins

fuzz: fuzz-build
	FUZZ_SEED=$(FUZZ_SEED) fuzz/run.sh $(FUZZ_DIR)/$(FUZZ_HOST)/release $(FUZZ_DIR) $(FUZZ_SECS) $(FUZZ_TARGETS)

# The bounded run of make test: 20 s per target with a fixed seed (the build,
# from nothing, takes about 80 s on 2 cores: libfuzzer-sys compiles
# libFuzzer). A crash leaves its input in target/fuzz/artifacts/<target>/;
# replay it with target/fuzz/<host>/release/<target> <file>, and once fixed
# commit it to fuzz/corpus/<target>/ as a regression input.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECS=20 FUZZ_SEED=1

# Not part of make test: a mixed multi-process workload with kills and
# restarts, checking every invariant, for SOAK_SECS seconds (examples/soak.rs).
SOAK_SECS ?= 600
soak:
	$(CARGO) run --release --example soak -- $(SOAK_SECS)

clean:
	rm -rf $(BUILD) $(STAGE)
