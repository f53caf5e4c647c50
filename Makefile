# orbit — project commands.
#
#   make build             build liborbit.so / liborbit.a (cargo build --release, driven by CMake)
#   make install           install lib, orbit.h, orbit.pc and the CMake package into $(PREFIX)
#                          (default /usr/local; DESTDIR is honoured)
#   make stage             install into ./stage (what the C tests and the demo build against)
#   make demo              build, stage, compile examples/c with pkg-config, run writer + reader
#   make test              what CI runs: fmt-check, clippy, rust-test, loom, c-test, c-test-valgrind,
#                          py-test, go-test
#   make fmt-check         cargo fmt --check
#   make clippy            cargo clippy --all-targets -- -D warnings
#   make rust-test         cargo test (every Rust test)
#   make c-test            the C test suite (c-tests/, ctest) against ./stage
#   make c-test-valgrind   the same suite once more under valgrind memcheck
#   make loom              the loom models of the ring and cache protocols (--cfg loom, own target dir)
#   make py-test           pip-install bindings/python into a venv and run its pytest suite against ./stage
#   make go-test           go vet + go test (once with -race) of bindings/go against ./stage
#   make bench             criterion benches and the cross-process ping-pong
#   make bench-peers       orbit against its peers (benches/peers, a crate of its own: iceoryx2, disruptor,
#                          kekbit, unix socket, pipe, Redis, LMDB): results.json, PNG plots, the tables of
#                          BENCHMARKS.md; installs redis-server (apt-get) and matplotlib (a venv) if missing
#   make bench-peers-quick the same harness in quick mode (CI: checks that it runs, judges no numbers)
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

# The targets share build directories and cargo's target/: run them one at a time.
.NOTPARALLEL:
.PHONY: build install stage demo test fmt-check clippy rust-test c-test c-test-valgrind \
        c-test-build clean loom py-test go-test bench bench-peers bench-peers-quick bench-peers-deps

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
	for prog in ring_writer ring_reader; do \
	  $(CC) $(STRICT_C) -o $(BUILD)/demo/$$prog examples/c/$$prog.c \
	    $$($(STAGE_PKG_CONFIG) --cflags --libs orbit) \
	    -Wl,-rpath,$$($(STAGE_PKG_CONFIG) --variable=libdir orbit) || exit 1; \
	done
	fleet=demo-$$$$; \
	$(BUILD)/demo/ring_reader $$fleet events 10 5000 --unlink & reader=$$!; \
	$(BUILD)/demo/ring_writer $$fleet events 10 50 || { kill $$reader; exit 1; }; \
	wait $$reader

test: fmt-check clippy rust-test loom c-test c-test-valgrind py-test go-test
	@echo "make test: all passed"

# Bounded preemptions keep the exhaustive search to seconds (crossbeam does the same).
loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=$(CURDIR)/target/loom \
	  $(CARGO) test --release --lib

PY_VENV := $(BUILD)/venv
py-test: stage
	python3 -m venv --system-site-packages $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet ./bindings/python
	cd bindings/python/tests && ORBIT_LIBRARY=$(STAGE)/lib/liborbit.so \
	  $(CURDIR)/$(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider .

GO_ENV = PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig LD_LIBRARY_PATH=$(STAGE)/lib
go-test: stage
	cd bindings/go && $(GO_ENV) go vet ./...
	cd bindings/go && $(GO_ENV) go test -count=1 ./...
	cd bindings/go && $(GO_ENV) go test -count=1 -race ./...

bench:
	$(CARGO) bench

# The peer crates build in benches/peers/target, never in the library's test build.
PEERS := benches/peers
PEERS_BIN := $(PEERS)/target/release/orbit-peers
PEERS_VENV := $(PEERS)/.venv
APT_GET = $$(command -v sudo) apt-get

bench-peers-deps:
	command -v redis-server >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq redis-server; }
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -c 'import matplotlib' 2>/dev/null || $(PEERS_VENV)/bin/pip install --quiet matplotlib
	cd $(PEERS) && $(CARGO) build --release -j2

bench-peers: bench-peers-deps
	$(PEERS_BIN)
	$(PEERS_VENV)/bin/python $(PEERS)/plot.py $(PEERS)/results/results.json --markdown BENCHMARKS.md

bench-peers-quick: bench-peers-deps
	$(PEERS_BIN) --quick
	$(PEERS_VENV)/bin/python $(PEERS)/plot.py $(PEERS)/results/quick.json --outdir $(BUILD)/bench-peers-quick

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
	$(CTEST) --test-dir $(BUILD)/c-tests -LE valgrind --output-on-failure --no-tests=error

c-test-valgrind: c-test-build
	$(CTEST) --test-dir $(BUILD)/c-tests -L valgrind --output-on-failure --no-tests=error

clean:
	rm -rf $(BUILD) $(STAGE)
