# floodgate — one non-recursive GNU Makefile.
#
#   make              build build/floodgate
#   make check        install missing Debian packages, build, check the include
#                     order (docs/ARCHITECTURE.md), run every test
#   make run          install missing packages, build, run the demo (config/demo.yaml)
#   make asan / tsan  the tests under ASan+UBSan / ThreadSanitizer (build/asan, build/tsan)
#   make scale        the multi-instance suite (tests/check_scale.c), SCALE_RUNS times
#   make faults       the fault-injection suite (tests/check_faults.c) FAULT_RUNS times
#                     in a row (default 5); stops at the first failing run
#   make soak         SOAK_SECONDS (default 600) of steady load, /metrics sampled every
#                     SOAK_INTERVAL (default 10 s): RSS, fds, threads, lag; CSV in
#                     $(BUILD)/soak/soak.csv; fails on growth or lost events
#   make deps         install the Debian packages floodgate needs (as root)
#   make fuzz         build the libFuzzer targets with clang (build/fuzz) and run each
#                     for FUZZ_SECONDS (default 60); FUZZ_MERGE=1 merges new inputs
#                     into tests/fuzz/corpus; fails on any crash (tests/fuzz/README.md)
#   make fuzz-deps    install clang and its libFuzzer runtime (as root)
#   make systemd-test floodgate under a real systemd: boots a Debian bookworm tree
#                     (debootstrap, cached in $(BUILD)/systemd-test) with systemd-nspawn,
#                     installs floodgate into it and checks both units against the
#                     manager (tests/systemd/systemd-test.sh); as root
#   make bench        the pipeline benchmark report, then the HTTPS one
#   make bench-https  HTTPS vs HTTP CPU per event into the http sink (tests/bench/https.sh;
#                     HTTPS_COUNT events, default 500000, ROUNDS rounds, default 5)
#   make bench-commit the commit-pacing benchmark (kafka.commit_every: throughput,
#                     CPU per event, commits; tests/bench/commit_cost.sh)
#   make bench-crash  kill -9 during a 1M-event drain, restart: duplicates
#                     (tests/bench/crash_dups.sh)
#   make bench-ordering  workers.ordering none/partition/key at 10, 1,000 and
#                     100,000 keys with a 1 ms http sink (tests/bench/ordering.sh,
#                     ~12 min): throughput (median, best) and CPU per event over ROUNDS (3)
#   make bench-burst  the viral-burst benchmark (tests/bench/burst.sh, ~25 min;
#                     BURST_SCALE=0.25 for 5 s phases): CSVs in build/bench-burst,
#                     plots and summary in docs/bench; installs gnuplot-nox (as root)
#   make WERROR=1     warnings are errors (CI)
#   make install      install the binary, the systemd unit, the configuration,
#                     man pages, the plugin header and the example plugin
#                     (PREFIX=/usr/local DESTDIR= ...); make uninstall
#   make man          regenerate the option list in man/floodgate.yaml.5
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
PKGS    := libevent libevent_pthreads libevent_openssl openssl zlib rdkafka jansson yaml-0.1
TESTPKG := check

# The Debian packages behind PKGS/TESTPKG, for `make deps`.
APT_PKGS := gcc make pkg-config libevent-dev libssl-dev zlib1g-dev librdkafka-dev \
            libjansson-dev libyaml-dev check prometheus systemd groff-base man-db strace \
            openssl python3
# Commands the tests run (promtool comes with Debian's prometheus package;
# systemd-analyze with systemd; groff and man check the manual pages; strace
# traces the daemon's system calls against the unit's filters; openssl makes
# the throwaway CA and certificates of the TLS tests, and python3's ssl
# module is the HTTPS server they talk to).
DEP_CMDS := promtool systemd-analyze groff man strace openssl python3

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
else ifeq ($(SAN),fuzz)
# Library and harness objects for the libFuzzer targets (clang only): coverage
# instrumentation without libFuzzer's main; the targets link -fsanitize=fuzzer.
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
OPT := -O1
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lm
CHECK_CFLAGS := $(shell pkg-config --cflags $(TESTPKG) 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs $(TESTPKG) 2>/dev/null)

MODULES  := common pipeline metrics kafka breaker handler sinks workers ingest tools config daemon
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
# check_scale (several daemons through a burst, minutes) runs in `make scale`.
SLOW_TESTS := check_scale
TESTS ?= $(filter-out $(SLOW_TESTS),$(notdir $(TEST_BINS)))

# Sink plugins: the example, and the broken ones the error-path tests load.
# Built like a plugin author would (only sinks/ on the include path), with
# SANFLAGS so sanitizer builds load instrumented objects.
PLUGINS := $(BUILD)/plugins/example_plugin.so \
           $(patsubst tests/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard tests/plugins/*.c))

BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

# Fuzzing (tests/fuzz/): one harness per target, shared by the libFuzzer
# binaries and by check_fuzz_regressions, which replays every saved crash
# and the seed corpora in `make check`.
FUZZ_TARGETS    := config handler admin
FUZZ_HARNESS_OBJ = $(FUZZ_TARGETS:%=$(BUILD)/obj/tests/fuzz/harness_%.o)
FUZZ_BUILD   ?= build/fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_MERGE   ?=
# bookworm's clang is clang-14; libclang-rt-14-dev ships its
# libclang_rt.fuzzer-x86_64.a (the unversioned libclang-rt-dev depends on it).
FUZZ_APT_PKGS := clang libclang-rt-14-dev

.PHONY: all deps check test run asan tsan bench bench-https bench-burst bench-ordering bench-deps clean fuzz fuzz-deps \
        fuzz-build fuzz-run
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

# The regression suite links the fuzz harnesses (before the library).
$(BUILD)/tests/check_fuzz_regressions: $(BUILD)/obj/tests/check_fuzz_regressions.o \
                                       $(FUZZ_HARNESS_OBJ) $(TEST_SUPPORT_OBJ) $(SAN_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -rdynamic $^ $(PKG_LIBS) $(CHECK_LIBS) -o $@

# A libFuzzer target (built with SAN=fuzz CC=clang, see `fuzz`); the
# handler's also links the oracle it is compared with.
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/harness_%.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer $^ $(PKG_LIBS) -o $@

$(BUILD)/fuzz_handler: $(BUILD)/obj/tests/fuzz/fuzz_handler.o \
                       $(BUILD)/obj/tests/fuzz/harness_handler.o \
                       $(BUILD)/obj/tests/support/handler_oracle.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer $^ $(PKG_LIBS) -o $@

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
# $(call apt_install,TARGET,PACKAGES,WHAT IS MISSING): one shell command
# for a recipe whose probe failed: as root, install PACKAGES from Debian's
# archive; otherwise print the command to run and fail.
apt_install = if [ "$$(id -u)" = 0 ]; then \
	  echo "make $(1): installing $(2)"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2); \
	else \
	  echo "make $(1): $(3); run:"; \
	  echo "  sudo apt-get install -y $(2)"; \
	  exit 1; \
	fi

deps:
	@missing=""; \
	for p in $(PKGS) $(TESTPKG); do \
	  pkg-config --exists $$p 2>/dev/null || missing=1; \
	done; \
	for c in $(CC) $(DEP_CMDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then $(call apt_install,deps,$(APT_PKGS),missing build dependencies); fi

# The include order of docs/ARCHITECTURE.md, and that the check catches a
# planted back-edge.
.PHONY: layers
layers:
	@tests/check_layers.sh
	@tests/check_layers.sh --self-test

test: layers $(BIN) $(PLUGINS) $(addprefix $(BUILD)/tests/,$(TESTS))
	@failed=""; \
	for t in $(TESTS); do \
	  echo "== $$t"; \
	  FLOODGATE_BIN=$(abspath $(BIN)) FLOODGATE_SRCDIR=$(CURDIR) FLOODGATE_SAN=$(SAN) \
	    FLOODGATE_PLUGIN_DIR=$(abspath $(BUILD)/plugins) \
	    TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp $$TSAN_OPTIONS" \
	    UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
	    ASAN_OPTIONS="detect_leaks=1 quarantine_size_mb=32 $$ASAN_OPTIONS" \
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

# Scale-out: several real daemons in one group on one mock cluster through
# bursts (tests/check_scale.c): scale 1 -> 3 -> 2, kill -9 and restart,
# SIGTERM with the sink down, cooperative rebalancing. SCALE_RUNS times in
# a row (default 1); stops at the first failing run.
SCALE_RUNS ?= 1
.PHONY: scale
scale: deps
	@$(MAKE) --no-print-directory $(BIN) $(PLUGINS) $(BUILD)/tests/check_scale
	@for i in $$(seq 1 $(SCALE_RUNS)); do \
	  t0=$$(date +%s); \
	  if ! $(MAKE) --no-print-directory test TESTS=check_scale; then \
	    echo "make scale: run $$i of $(SCALE_RUNS) FAILED"; exit 1; \
	  fi; \
	  echo "== make scale: run $$i of $(SCALE_RUNS) passed in $$(( $$(date +%s) - t0 )) s"; \
	done

# Fault injection, repeated: every scenario must pass FAULT_RUNS times in a
# row. Works with any BUILD/SAN (make faults SAN=asan BUILD=build/asan).
FAULT_RUNS ?= 5
.PHONY: faults faults-run soak
faults: deps
	@$(MAKE) --no-print-directory $(BIN) $(PLUGINS) $(BUILD)/tests/check_faults
	@$(MAKE) --no-print-directory faults-run

faults-run:
	@for i in $$(seq 1 $(FAULT_RUNS)); do \
	  echo "== make faults: run $$i of $(FAULT_RUNS)"; \
	  t0=$$(date +%s); \
	  if ! $(MAKE) --no-print-directory test TESTS=check_faults; then \
	    echo "make faults: run $$i of $(FAULT_RUNS) FAILED"; exit 1; \
	  fi; \
	  echo "== make faults: run $$i of $(FAULT_RUNS) passed in $$(( $$(date +%s) - t0 )) s"; \
	done; \
	echo "make faults: all $(FAULT_RUNS) runs passed"

# A long run under steady load, watched for leaks (tests/soak/soak.sh; its
# header lists the SOAK_* knobs). Needs only bash, coreutils and awk (curl
# when present).
SOAK_SECONDS  ?= 600
SOAK_INTERVAL ?= 10
soak: deps
	@$(MAKE) --no-print-directory $(BIN)
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_INTERVAL=$(SOAK_INTERVAL) \
	  tests/soak/soak.sh $(BIN) $(BUILD)/soak

# The pipeline benchmark also builds a binary with metric recording compiled
# out, to measure what recording costs per message.
bench: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN) $(BENCH_BINS)
	@$(MAKE) --no-print-directory OPT=-O2 BUILD=build/nometrics CPPFLAGS=-DFG_METRICS_OFF build/nometrics/floodgate
	tests/bench/pipeline.sh $(BUILD) build/nometrics
	tests/bench/https.sh $(BUILD)

bench-https: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN)
	tests/bench/https.sh $(BUILD)

# What committing every kafka.commit_every events costs (throughput, CPU
# per event, commits) in one run, and what a kill -9 costs in duplicates;
# BASE_BIN=<an older build/floodgate> adds its figures as the baseline.
.PHONY: bench-commit bench-crash
bench-commit: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN)
	tests/bench/commit_cost.sh $(BUILD)

bench-crash: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN)
	tests/bench/crash_dups.sh $(BUILD)

# The ordering benchmark: every workers.ordering mode over 10, 1,000 and
# 100,000 keys against a 1 ms HTTP downstream (tests/bench/httpsink).
bench-ordering: deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN) $(BENCH_BINS)
	tests/bench/ordering.sh $(BUILD)

# The burst benchmark samples /stats (tests/bench/stats_sampler) and plots
# with gnuplot.
BENCH_APT_PKGS := gnuplot-nox
bench-deps:
	@if ! command -v gnuplot >/dev/null 2>&1; then \
	  $(call apt_install,bench-deps,$(BENCH_APT_PKGS),gnuplot missing); \
	fi

bench-burst: deps
	@$(MAKE) --no-print-directory bench-deps
	@$(MAKE) --no-print-directory OPT=-O2 $(BIN) $(BENCH_BINS)
	tests/bench/burst.sh $(BUILD)

# clang and libFuzzer's runtime, probed by linking an empty target.
fuzz-deps:
	@probe='int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }'; \
	if ! echo "$$probe" | $(FUZZ_CC) -x c -fsanitize=fuzzer,address,undefined - \
	       -o /dev/null >/dev/null 2>&1; then \
	  $(call apt_install,fuzz-deps,$(FUZZ_APT_PKGS),$(FUZZ_CC) cannot link -fsanitize=fuzzer); \
	fi

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

# Each target fuzzes a copy of its checked-in corpus, so only FUZZ_MERGE=1
# (after a clean run) changes tests/fuzz/corpus. Crashes land in
# $(FUZZ_BUILD)/run/<target>/artifacts/.
fuzz-run:
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  run=$(FUZZ_BUILD)/run/$$t; \
	  rm -rf $$run && mkdir -p $$run/corpus $$run/artifacts && \
	  cp -R tests/fuzz/corpus/$$t/. $$run/corpus/ || exit 1; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s (log: $$run/fuzz.log)"; \
	  if ASAN_OPTIONS="detect_leaks=1 $$ASAN_OPTIONS" \
	     UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
	     $(FUZZ_BUILD)/fuzz_$$t $$dict -max_total_time=$(FUZZ_SECONDS) \
	       -timeout=$(FUZZ_TIMEOUT) -artifact_prefix=$$run/artifacts/ \
	       -print_final_stats=1 $$run/corpus >$$run/fuzz.log 2>&1; then \
	    grep -aE '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
	      $$run/fuzz.log | sed 's/^/   /'; \
	    if [ "$(FUZZ_MERGE)" = 1 ]; then \
	      $(FUZZ_BUILD)/fuzz_$$t $$dict -merge=1 tests/fuzz/corpus/$$t $$run/corpus \
	        >$$run/merge.log 2>&1 && grep -E 'MERGE-OUTER: [0-9]+ new files' $$run/merge.log \
	        | sed 's/^/   /' || { echo "   merge failed: $$run/merge.log"; failed="$$failed $$t(merge)"; }; \
	    fi; \
	  else \
	    tail -n 40 $$run/fuzz.log; \
	    echo "   fuzz_$$t FAILED; inputs in $$run/artifacts/:"; ls $$run/artifacts | sed 's/^/     /'; \
	    failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "FUZZ FAILED:$$failed (add each crash to tests/fuzz/regressions/<target>/)"; exit 1; \
	fi; \
	echo "fuzzing found nothing ($(words $(FUZZ_TARGETS)) targets, $(FUZZ_SECONDS) s each)"

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) SAN=fuzz CC=$(FUZZ_CC) fuzz-build
	@$(MAKE) --no-print-directory fuzz-run

clean:
	rm -rf build

# ---- floodgate under a real systemd ----
# debootstrap builds the container's tree once; systemd-nspawn boots it. The
# script says SKIP (and exits 0) only where nspawn cannot run at all: not
# root, no CAP_SYS_ADMIN, no namespaces, no writable cgroup file system.
SYSTEMD_TEST_APT_PKGS := debootstrap debian-archive-keyring systemd-container
.PHONY: systemd-test systemd-test-deps
systemd-test-deps:
	@if ! command -v debootstrap >/dev/null 2>&1 || ! command -v systemd-nspawn >/dev/null 2>&1 || \
	    [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then \
	  $(call apt_install,systemd-test-deps,$(SYSTEMD_TEST_APT_PKGS),debootstrap or systemd-nspawn missing); \
	fi

systemd-test: deps
	@$(MAKE) --no-print-directory systemd-test-deps
	@$(MAKE) --no-print-directory $(BIN) $(EXAMPLE_PLUGIN)
	MAKE="$(MAKE)" tests/systemd/systemd-test.sh $(BUILD)

# ---- manual pages ----
# The option list of floodgate.yaml(5) comes from the option table;
# check_systemd fails when the checked-in page differs from what this makes.
.PHONY: man install uninstall
GEN_OPTIONS := $(BUILD)/man/gen_options
$(GEN_OPTIONS): $(BUILD)/obj/man/gen_options.o $(SAN_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $^ $(PKG_LIBS) -o $@
$(BUILD)/tests/check_systemd: | $(GEN_OPTIONS)

man: $(GEN_OPTIONS)
	$(GEN_OPTIONS) man/floodgate.yaml.5 > $(BUILD)/man/floodgate.yaml.5.new
	mv $(BUILD)/man/floodgate.yaml.5.new man/floodgate.yaml.5

# ---- install ----
# make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR= MANDIR= SYSCONFDIR=
# UNITDIR= INCLUDEDIR= PLUGINDIR=]. An existing floodgate.yaml is never
# overwritten (the reference is always refreshed as floodgate.yaml.example);
# uninstall leaves it, and the env file, in place. Neither runs systemctl:
# follow with `systemctl daemon-reload`.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
INCLUDEDIR ?= $(PREFIX)/include
PLUGINDIR  ?= $(PREFIX)/lib/floodgate/plugins
INSTALL    ?= install
CONFDIR    := $(SYSCONFDIR)/floodgate
EXAMPLE_PLUGIN := $(BUILD)/plugins/example_plugin.so

# $(call render_unit,NAME,WHAT IT IS,DESCRIPTION SUFFIX,CONFIG FILE,STATE DIRECTORY,
# SED COMMAND FOR @INSTANCE_ENV@): one unit from systemd/floodgate.service.in.
render_unit = sed -e 's|@UNIT@|$(1)|' -e 's|@UNIT_ROLE@|$(2)|' -e 's|@DESCRIPTION@|$(3)|' \
	  -e 's|@CONFIG@|$(4)|g' -e 's|@STATEDIR@|$(5)|' -e '$(6)' \
	  -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/floodgate.service.in > $(DESTDIR)$(UNITDIR)/$(1).tmp && \
	chmod 0644 $(DESTDIR)$(UNITDIR)/$(1).tmp && \
	mv $(DESTDIR)$(UNITDIR)/$(1).tmp $(DESTDIR)$(UNITDIR)/$(1)

install: $(BIN) $(EXAMPLE_PLUGIN)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(INCLUDEDIR)/floodgate $(DESTDIR)$(PLUGINDIR)
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/floodgate
	$(call render_unit,floodgate.service,the floodgate daemon under systemd,,$(CONFDIR)/floodgate.yaml,floodgate,/@INSTANCE_ENV@/d)
	$(call render_unit,floodgate@.service,one floodgate pipeline per instance (floodgate@NAME), %i,$(CONFDIR)/%i.yaml,floodgate-%i,s|@INSTANCE_ENV@|EnvironmentFile=-$(CONFDIR)/%i.env|)
	$(INSTALL) -m 0644 config/floodgate.yaml $(DESTDIR)$(CONFDIR)/floodgate.yaml.example
	@if [ -e $(DESTDIR)$(CONFDIR)/floodgate.yaml ]; then \
	  echo "keeping $(DESTDIR)$(CONFDIR)/floodgate.yaml"; \
	else \
	  echo "$(INSTALL) -m 0644 config/floodgate.yaml $(DESTDIR)$(CONFDIR)/floodgate.yaml"; \
	  $(INSTALL) -m 0644 config/floodgate.yaml $(DESTDIR)$(CONFDIR)/floodgate.yaml; \
	fi
	$(INSTALL) -m 0644 man/floodgate.8 $(DESTDIR)$(MANDIR)/man8/floodgate.8
	$(INSTALL) -m 0644 man/floodgate.yaml.5 $(DESTDIR)$(MANDIR)/man5/floodgate.yaml.5
	$(INSTALL) -m 0644 sinks/floodgate_plugin.h $(DESTDIR)$(INCLUDEDIR)/floodgate/floodgate_plugin.h
	$(INSTALL) -m 0755 $(EXAMPLE_PLUGIN) $(DESTDIR)$(PLUGINDIR)/example_plugin.so

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/floodgate $(DESTDIR)$(UNITDIR)/floodgate.service \
	  $(DESTDIR)$(UNITDIR)/floodgate@.service \
	  $(DESTDIR)$(CONFDIR)/floodgate.yaml.example \
	  $(DESTDIR)$(MANDIR)/man8/floodgate.8 $(DESTDIR)$(MANDIR)/man5/floodgate.yaml.5 \
	  $(DESTDIR)$(INCLUDEDIR)/floodgate/floodgate_plugin.h \
	  $(DESTDIR)$(PLUGINDIR)/example_plugin.so
	rmdir $(DESTDIR)$(INCLUDEDIR)/floodgate $(DESTDIR)$(PLUGINDIR) \
	  $(DESTDIR)$(patsubst %/,%,$(dir $(PLUGINDIR))) 2>/dev/null || true

-include $(shell find $(BUILD)/obj $(BUILD)/plugins -name '*.d' 2>/dev/null)
