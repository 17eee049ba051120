# floodgate — one non-recursive GNU Makefile.
#
#   make              build build/floodgate
#   make check        install missing Debian packages, build, run every test
#   make run          install missing packages, build, run the demo (config/demo.yaml)
#   make asan / tsan  the tests under ASan+UBSan / ThreadSanitizer (build/asan, build/tsan)
#   make deps         install the Debian packages floodgate needs (as root)
#   make bench        the pipeline benchmark report
#   make WERROR=1     warnings are errors (CI)
#
# Phases that need the libraries (check, run, asan, tsan) first run `deps`,
# then re-enter make so pkg-config sees what deps installed.

.SUFFIXES:
.DELETE_ON_ERROR:
# Keep intermediate objects (tests/support/*.o) between links.
.SECONDARY:
.DEFAULT_GOAL := all

BUILD   ?= build
SAN     ?=
WERROR  ?=
CC      ?= cc
PKGS    := libevent libevent_pthreads rdkafka jansson yaml-0.1
TESTPKG := check

# The Debian packages behind PKGS/TESTPKG, for `make deps`.
APT_PKGS := gcc make pkg-config libevent-dev librdkafka-dev libjansson-dev \
            libyaml-dev check prometheus
# Commands the tests run (promtool comes with Debian's prometheus package).
DEP_CMDS := promtool

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wno-unused-parameter
OPT  ?= -O2
CFLAGS_ALL = -std=c11 $(OPT) -g $(WARN) -pthread -MMD -MP \
             $(if $(WERROR),-Werror) $(SANFLAGS) $(CFLAGS)
CPPFLAGS_ALL = -I. -D_GNU_SOURCE -DFG_VERSION='"$(VERSION)"' $(CPPFLAGS)
LDFLAGS_ALL = -pthread $(SANFLAGS) $(LDFLAGS)

# TSan builds link common/tsan_threads.c into every executable: librdkafka's
# C11 threads and locks are invisible to TSan otherwise (see that file).
SAN_OBJ :=
ifeq ($(SAN),asan)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1
else ifeq ($(SAN),tsan)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT := -O1
SAN_OBJ = $(BUILD)/obj/common/tsan_threads.o
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lm
CHECK_CFLAGS := $(shell pkg-config --cflags $(TESTPKG) 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs $(TESTPKG) 2>/dev/null)

MODULES  := common config daemon ingest workers sinks breaker metrics
LIB_SRC  := $(filter-out daemon/main.c common/tsan_threads.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/daemon/main.o
LIB      := $(BUILD)/libfloodgate.a
BIN      := $(BUILD)/floodgate

TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  := $(wildcard tests/check_*.c)
TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Run a subset with: make check TESTS="check_queue check_config"
TESTS ?= $(notdir $(TEST_BINS))

# Sink plugins: the example, and the broken ones the error-path tests load.
# Built like a plugin author would (only sinks/ on the include path), with
# SANFLAGS so sanitizer builds load instrumented objects.
PLUGINS := $(BUILD)/plugins/example_plugin.so \
           $(patsubst tests/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard tests/plugins/*.c))

BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps check test run asan tsan bench clean
all: $(BIN) $(PLUGINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(PKG_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(SAN_OBJ) $(LIB)
	$(CC) $(LDFLAGS_ALL) -rdynamic $^ $(PKG_LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(SAN_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -rdynamic $^ $(PKG_LIBS) $(CHECK_LIBS) -o $@

$(BUILD)/plugins/%.so: plugins/example/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -fPIC -shared -fvisibility=hidden -Isinks $< -o $@

$(BUILD)/plugins/%.so: tests/plugins/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -fPIC -shared -fvisibility=hidden -Isinks $< -o $@

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $^ $(PKG_LIBS) -o $@

# Install what is missing: as root through apt-get, otherwise print the
# exact command and stop.
deps:
	@missing=""; \
	for p in $(PKGS) $(TESTPKG); do \
	  pkg-config --exists $$p 2>/dev/null || missing=1; \
	done; \
	for c in $(CC) $(DEP_CMDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing $(APT_PKGS)"; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS); \
	  else \
	    echo "make deps: missing build dependencies; run:"; \
	    echo "  sudo apt-get install -y $(APT_PKGS)"; \
	    exit 1; \
	  fi; \
	fi

test: $(BIN) $(PLUGINS) $(addprefix $(BUILD)/tests/,$(TESTS))
	@failed=""; \
	for t in $(TESTS); do \
	  echo "== $$t"; \
	  FLOODGATE_BIN=$(abspath $(BIN)) FLOODGATE_SRCDIR=$(CURDIR) FLOODGATE_SAN=$(SAN) \
	    FLOODGATE_PLUGIN_DIR=$(abspath $(BUILD)/plugins) \
	    TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp $$TSAN_OPTIONS" \
	    UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
	    ASAN_OPTIONS="detect_leaks=1 $$ASAN_OPTIONS" \
	    LSAN_OPTIONS="suppressions=$(CURDIR)/tests/lsan.supp" \
	    $(BUILD)/tests/$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; \
	echo "all tests passed ($(words $(TESTS)) suites, $(if $(SAN),$(SAN),plain) build)"

check: deps
	@$(MAKE) --no-print-directory test

run: deps
	@$(MAKE) --no-print-directory $(BIN)
	$(BIN) run -c config/demo.yaml --until-drained

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=asan test

# The concurrency suites under ThreadSanitizer; TESTS= narrows or widens it.
TSAN_TESTS ?= $(TESTS)
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=tsan TESTS="$(TSAN_TESTS)" test

# The pipeline benchmark also builds a binary with metric recording compiled
# out, to measure what recording costs per message.
bench: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN) $(BENCH_BINS)
	@$(MAKE) --no-print-directory OPT=-O2 BUILD=build/nometrics CPPFLAGS=-DFG_METRICS_OFF build/nometrics/floodgate
	tests/bench/pipeline.sh $(BUILD) build/nometrics

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/plugins -name '*.d' 2>/dev/null)
