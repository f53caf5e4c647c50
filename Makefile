# orbit — project commands.
#
#   make build             build liborbit.so / liborbit.a (cargo build --release, driven by CMake)
#   make install           install lib, orbit.h, orbit.pc and the CMake package into $(PREFIX)
#                          (default /usr/local; DESTDIR is honoured)
#   make stage             install into ./stage (what the C tests and the demo build against)
#   make demo              build, stage, compile examples/c with pkg-config, run writer + reader
#   make test              what CI runs: fmt-check, clippy, rust-test, c-test, c-test-valgrind
#   make fmt-check         cargo fmt --check
#   make clippy            cargo clippy --all-targets -- -D warnings
#   make rust-test         cargo test (every Rust test)
#   make c-test            the C test suite (c-tests/, ctest) against ./stage
#   make c-test-valgrind   the same suite once more under valgrind memcheck
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
        c-test-build clean

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

test: fmt-check clippy rust-test c-test c-test-valgrind
	@echo "make test: all passed"

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
