# campaign-relay build.
#
#   make            release build: build/campaign-relay, build/gcsim, build/kafka-mock, tools
#   make test       install deps, sanitizer build (ASan+UBSan) in build/asan, run every test
#   make demo       install deps, build, run the relay against the simulator
#   make fuzz       build libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make bench      benchmarks on the release build
#
# Sources are picked up by directory, so adding a module needs no Makefile change:
#   util/ config/ consumer/ publishers/  -> one static library linked into everything
#   app/*.c                              -> build/campaign-relay
#   tests/gcsim/*.c                      -> build/gcsim
#   tests/kafka_mock/*.c                 -> build/kafka-mock
#   tests/unit/test_*.c                  -> build/tests/test_*   (one program per file)
#   tests/tools/*.c                      -> build/tools/*        (one program per file)
#   tests/bench/bench_*.c                -> build/bench/bench_*  (one program per file)
#   tests/fuzz/fuzz_*.c                  -> build/fuzz/fuzz_*    (clang, libFuzzer)

BUILD     ?= build
SAN       ?= 0
CC        ?= cc
PKGS      := libwebsockets libcurl libcjson rdkafka sqlite3 yaml-0.1 libssl libcrypto

# Recursive (=) so that a fresh machine, where pkg-config files appear only after
# deploy/install-deps.sh ran, still resolves them in the sub-make.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
BASEFLAGS := -std=c11 -D_GNU_SOURCE -g -pthread -I. $(WARN)
ifeq ($(SAN),1)
  OPTFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  OPTFLAGS := -O2
endif
CFLAGS    ?=
CFLAGS    += $(BASEFLAGS) $(OPTFLAGS) $(PKG_CFLAGS) -MMD -MP
LDFLAGS   += $(OPTFLAGS) -pthread
LDLIBS    += $(PKG_LIBS) -lm

# The release relay runs on mimalloc. Under glibc's malloc a block freed by another
# thread than the one that allocated it locks the allocating thread's arena, and the
# relay hands every decoded frame from the decode thread to the service loop: the loop
# spent a third of its waits on those locks. mimalloc frees across threads without a
# lock. Linked before the C library and kept even though nothing names it, so its malloc
# is the process's malloc; sanitizer builds keep their own allocator.
ifeq ($(SAN),1)
  RELAY_ALLOC_LIBS :=
else
  RELAY_ALLOC_LIBS := -Wl,--push-state,--no-as-needed -lmimalloc -Wl,--pop-state
endif

LIB_SRCS   := $(wildcard util/*.c config/*.c consumer/*.c publishers/*.c)
APP_SRCS   := $(wildcard app/*.c)
GCSIM_SRCS := $(wildcard tests/gcsim/*.c)
KMOCK_SRCS := $(wildcard tests/kafka_mock/*.c)
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
TOOL_SRCS  := $(wildcard tests/tools/*.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)

OBJ        := $(BUILD)/obj
LIB        := $(BUILD)/libcrelay.a
LIB_OBJS   := $(LIB_SRCS:%.c=$(OBJ)/%.o)
APP_OBJS   := $(APP_SRCS:%.c=$(OBJ)/%.o)
GCSIM_OBJS := $(GCSIM_SRCS:%.c=$(OBJ)/%.o)
KMOCK_OBJS := $(KMOCK_SRCS:%.c=$(OBJ)/%.o)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BINS  := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)

PROGRAMS   := $(BUILD)/campaign-relay
ifneq ($(GCSIM_SRCS),)
  PROGRAMS += $(BUILD)/gcsim
endif
ifneq ($(KMOCK_SRCS),)
  PROGRAMS += $(BUILD)/kafka-mock
endif

# Keep objects of one-file programs; make would delete them as intermediates.
.SECONDARY:

.PHONY: all programs tests deps test test-build asan demo fuzz fuzz-build bench clean

all: programs $(TOOL_BINS)

programs: $(PROGRAMS)

tests: programs $(TOOL_BINS) $(UNIT_BINS) $(BENCH_BINS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/campaign-relay: $(APP_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(APP_OBJS) $(LIB) $(RELAY_ALLOC_LIBS) $(LDLIBS)

$(BUILD)/gcsim: $(GCSIM_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(GCSIM_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/kafka-mock: $(KMOCK_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(KMOCK_OBJS) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/%: $(OBJ)/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# bench_frame times the relay's own per-frame work, so it runs on the relay's allocator.
$(BUILD)/bench/bench_frame: BENCH_ALLOC_LIBS := $(RELAY_ALLOC_LIBS)
$(BUILD)/bench/%: $(OBJ)/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(BENCH_ALLOC_LIBS) $(LDLIBS)

# ---------------------------------------------------------------------------
# The two commands of the README, and their helpers.

deps:
	@deploy/install-deps.sh

# The test suite runs on the sanitizer build: every unit test, gcsim, the relay
# and the tools are built with ASan+UBSan in build/asan.
test-build:
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan tests

# The release build is tested too: valgrind runs it (sanitizer builds cannot run under
# valgrind).
test: deps
	@$(MAKE) --no-print-directory test-build
	@$(MAKE) --no-print-directory all
	@tests/run.sh build/asan

asan: test-build

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

# ---------------------------------------------------------------------------
# Fuzzing: libFuzzer needs clang; the library is rebuilt with the fuzzer's
# coverage instrumentation in build/fuzz.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  := $(BASEFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lm

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: deps
	@$(MAKE) --no-print-directory all tests
	@tests/bench/run.sh build

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj build/fuzz/obj -name '*.d' 2>/dev/null)
