# vmkit — one non-recursive Makefile.
#
# The core library is every .c under common/ (common/kvm only where
# <linux/kvm.h> exists); each tool links its own folder's .c files with it.
# Outputs go to build/$(MODE)/.  MODE=dbg (default), rel, asan, tsan.

MODE    ?= dbg
BUILD   := build/$(MODE)
PREFIX  ?= /usr/local
DESTDIR ?=
V       ?= 0
WERROR  ?= 1

MAKEFLAGS += --no-builtin-rules
.DELETE_ON_ERROR:
.SUFFIXES:

CC      ?= cc
ifeq ($(CC),cc)
CC      := gcc
endif
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN    += -Werror
endif
OPT_dbg  := -O2 -g
OPT_rel  := -O2 -g -DNDEBUG
OPT_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDOPT_asan := -fsanitize=address,undefined
OPT_tsan := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
LDOPT_tsan := -fsanitize=thread
CFLAGS  ?=
CFLAGS  += $(CSTD) $(WARN) $(OPT_$(MODE)) -Icommon -Itests/unit -MMD -MP -pthread
LDFLAGS += $(LDOPT_$(MODE)) -pthread
LDLIBS  := -lyaml -lz -lzstd -llzma -llz4 -larchive -lexpat -lnettle -lZydis -lslirp -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

HAVE_KVM := $(shell test -e /usr/include/linux/kvm.h && echo 1)

LIB_SRCS := $(sort $(wildcard common/*/*.c))
ifneq ($(HAVE_KVM),1)
LIB_SRCS := $(filter-out common/kvm/%,$(LIB_SRCS))
else
CFLAGS   += -DHAVE_KVM=1
endif
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libvmkit.a

TOOLS    := vm-create vm-run vm-disk vm-net vm-snap
TOOL_BINS := $(TOOLS:%=$(BUILD)/%)

UNIT_SRCS := $(sort $(wildcard tests/unit/*_test.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_PROG_SRCS := $(sort $(wildcard tests/prog/*.c))
TEST_PROGS := $(TEST_PROG_SRCS:tests/prog/%.c=$(BUILD)/tests/%)

GUEST_SRCS := $(sort $(wildcard tests/guests/*.S))
GUEST_BINS := $(GUEST_SRCS:tests/guests/%.S=$(BUILD)/guests/%.elf)
GUEST_C_SRCS := $(sort $(wildcard tests/guests/*.c))
GUEST_BINS += $(GUEST_C_SRCS:tests/guests/%.c=$(BUILD)/guests/%.elf)

MANPAGES := $(sort $(wildcard man/*.[1-8]))

all: $(TOOL_BINS) $(UNIT_BINS) $(TEST_PROGS) $(GUEST_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

define tool_rule
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(sort $$(wildcard $(1)/*.c)))
$(BUILD)/$(1): $$($(1)_OBJS) $(LIB)
	@$$(if $(Q),echo "  LD      $$@")
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$($(1)_OBJS) -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/prog/%.o $(LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

# Test guests: freestanding 32-bit multiboot ELF kernels from one .S each.
$(BUILD)/guests/%.elf: tests/guests/%.S tests/guests/guest.ld tests/guests/guest.inc tests/guests/systest.inc
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -nostdlib -static -Wl,--build-id=none -Wl,-T,tests/guests/guest.ld \
		-Itests/guests -o $@ $<

# ... or from one freestanding .c each, with its own multiboot header.
$(BUILD)/guests/%.elf: tests/guests/%.c tests/guests/guest.ld
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)$(CC) -m32 -O2 -ffreestanding -fno-pic -fno-stack-protector \
		-fno-asynchronous-unwind-tables $(WARN) -nostdlib -static \
		-Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,tests/guests/guest.ld -o $@ $<

deps:
	@tools/deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-headers check-layers check-man
	@tests/run-all.sh $(BUILD)

check-unit: all
	@tests/run-all.sh $(BUILD) unit

check-bats: all
	@tests/run-all.sh $(BUILD) bats

# Every header compiles on its own.
HDRS := $(sort $(wildcard common/*/*.h))
check-headers:
	@for h in $(HDRS); do \
		echo "#include \"$${h#common/}\"" | \
		$(CC) $(CSTD) $(WARN) -Icommon -fsyntax-only -x c - || \
		{ echo "check-headers: $$h is not self-contained" >&2; exit 1; }; \
	done

# Layering rules of shared/STYLE.md 2.3.
check-layers:
	@tools/check-layers.sh

check-man:
	@for m in $(MANPAGES); do \
		mandoc -T lint -W warning $$m >/dev/null || exit 1; \
	done

asan:
	@$(MAKE) --no-print-directory MODE=asan all

# ThreadSanitizer over the DBT's parallel vCPUs: build/tsan, then the SMP
# test guest on both tiers at --cpus 2 and 4 (common/dbt/SMP.md, "TSan").
tsan:
	@$(MAKE) --no-print-directory MODE=tsan all
	@tools/tsan-smp.sh build/tsan

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory MODE=rel all
	@bench/run.sh build/rel
	@bench/boot-fw.sh build/rel
	@bench/cpu.sh build/rel
	@bench/smp.sh build/rel
	@bench/snap.sh build/rel
	@bench/live.sh build/rel
	@bench/net.sh build/rel
	@bench/disk.sh build/rel

# The long differential run (tests/prog/difftest.c); add options with
# DIFFTEST_FLAGS, e.g. DIFFTEST_FLAGS="--seed 7 --tier jit".
DIFFTEST_FLAGS ?=
difftest: all
	@$(BUILD)/tests/difftest --iterations 200000 $(DIFFTEST_FLAGS)

# libFuzzer harnesses (tests/fuzz/*.c) over the block layer, built with
# clang's sanitizers: make fuzz, then build/fuzz/qcow2 CORPUS_DIR.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/*.c))
FUZZ_LIB_SRCS := $(sort $(wildcard common/block/*.c common/util/*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
fuzz: $(FUZZ_BINS)
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(wildcard common/block/*.h common/util/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Icommon -o $@ $< $(FUZZ_LIB_SRCS) \
		-lz -lzstd -pthread

install: $(TOOL_BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MANPAGES); do \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; \
	done

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

.PHONY: all deps check check-unit check-bats check-headers check-layers \
	check-man asan tsan demo bench difftest fuzz install clean format

-include $(shell find build -name '*.d' 2>/dev/null)
