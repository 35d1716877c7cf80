# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# xsnap top-level Makefile.  Every output goes under $(OUTPUT), mirroring the
# source tree.  `make V=1` echoes commands.  `make SANITIZE=1` builds
# userspace with ASan + UBSan (into build-san/ by default).

ifeq ($(SANITIZE),1)
OUTPUT ?= build-san
else
OUTPUT ?= build
endif
O := $(abspath $(OUTPUT))

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

VERSION_MAJOR := 0
VERSION_MINOR := 2
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(patsubst $(O)/%,%,$(2))";
endif

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -dumpmachine 2>/dev/null)

# Missing tools stop the build with one clear sentence (scripts/install-deps.sh installs them).
# test/demo/bench install them first and then build through a sub-make.
NO_CHECK_GOALS := clean help test test-vm demo bench deps deb
ifeq ($(filter $(NO_CHECK_GOALS),$(MAKECMDGOALS)),)
NEED_TOOLS := $(CLANG) $(BPFTOOL) $(PKG_CONFIG)
$(foreach t,$(NEED_TOOLS),$(if $(shell command -v $(t) 2>/dev/null),,\
	$(error '$(t)' not found: run scripts/install-deps.sh (as root) to install build dependencies)))
endif

PKGS := libbpf libxdp libelf zlib
ifeq ($(filter $(NO_CHECK_GOALS),$(MAKECMDGOALS)),)
PKG_OK := $(shell $(PKG_CONFIG) --exists $(PKGS) && echo yes)
ifneq ($(PKG_OK),yes)
$(error libbpf/libxdp/libelf/zlib development files not found by pkg-config: run scripts/install-deps.sh (as root))
endif
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# --- BPF -------------------------------------------------------------------
CLANG_SYS_INCS := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS := -g -O2 --target=bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(CURDIR)/include -I$(CURDIR)/bpf -I/usr/include/$(MULTIARCH) $(CLANG_SYS_INCS)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst %.bpf.c,$(O)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst %.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))

# --- userspace -------------------------------------------------------------
CSTD := -std=gnu11
WARN := -Wall -Wextra -Werror -Wno-missing-field-initializers
BASE_CFLAGS := $(CSTD) $(WARN) -O2 -g -fPIC -D_GNU_SOURCE -MMD -MP \
	-I$(CURDIR)/include -I$(CURDIR)/bpf -I$(O)/bpf -I$(CURDIR)/userspace/lib -I$(CURDIR)/tools/common $(PKG_CFLAGS)
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_LDFLAGS := -fsanitize=address,undefined
endif
CFLAGS ?=
LDFLAGS ?=
CPPFLAGS ?=
ALL_CFLAGS := $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SAN_LDFLAGS) $(LDFLAGS)

LIB_SRCS := $(wildcard userspace/lib/*.c)
LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(LIB_SRCS))
LIB_A := $(O)/libxsnap.a
LIB_SO := $(O)/libxsnap.so.$(VERSION)
LIB_SONAME := libxsnap.so.$(VERSION_MAJOR)
LIB_MAP := userspace/lib/libxsnap.map

# userspace/preload/*.c: libxsnap-preload.so (LD_PRELOAD shim, issue 14),
# libxsnap's objects linked in and hidden behind its version script
PRELOAD_SRCS := $(wildcard userspace/preload/*.c)
PRELOAD_OBJS := $(patsubst %.c,$(O)/%.o,$(PRELOAD_SRCS))
PRELOAD_SO := $(if $(PRELOAD_SRCS),$(O)/libxsnap-preload.so)
PRELOAD_MAP := userspace/preload/preload.map

DAEMON_SRCS := $(wildcard userspace/daemon/*.c)
DAEMON_OBJS := $(patsubst %.c,$(O)/%.o,$(DAEMON_SRCS))
DAEMON_BIN := $(if $(DAEMON_SRCS),$(O)/xsnapd)
CTL_SRCS := $(wildcard tools/xsnapctl/*.c)
CTL_OBJS := $(patsubst %.c,$(O)/%.o,$(CTL_SRCS))
CTL_BIN := $(if $(CTL_SRCS),$(O)/xsnapctl)
# tools/common/*.c: code shared by xsnapctl and the examples (pcap writer),
# and with xsnapd (prom.c: the Prometheus text format)
COMMON_SRCS := $(wildcard tools/common/*.c)
COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(COMMON_SRCS))
PROM_OBJ := $(O)/tools/common/prom.o

GEN_SRCS := $(wildcard tools/xsnap-gen/*.c)
GEN_OBJS := $(patsubst %.c,$(O)/%.o,$(GEN_SRCS))
GEN_BIN := $(O)/xsnap-gen

# tools/bench/NAME.c: one benchmark program each, build/bench/NAME
BENCH_SRCS := $(wildcard tools/bench/*.c)
BENCH_BINS := $(patsubst tools/bench/%.c,$(O)/bench/%,$(BENCH_SRCS))

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(O)/examples/xsnap-%,$(subst _,-,$(EXAMPLE_SRCS)))

TEST_LIB_SRCS := $(wildcard tests/lib/*.c)
TEST_LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(TEST_LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst %.c,$(O)/%,$(UNIT_SRCS))
BPFTEST_SRCS := $(wildcard tests/bpf/*.c)
BPFTEST_BINS := $(patsubst %.c,$(O)/%,$(BPFTEST_SRCS))
NETNS_SRCS := $(wildcard tests/netns/*.c)
NETNS_BINS := $(patsubst %.c,$(O)/%,$(NETNS_SRCS))

# tests/fuzz/NAME.c: libFuzzer targets, built with clang (no -Werror: a
# different compiler's warnings must not break the build) against the library
# sources compiled with the same instrumentation.
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))
# only the self-contained pieces that parse untrusted input
FUZZ_LIB_SRCS := $(wildcard userspace/lib/rule.c userspace/lib/proto.c userspace/lib/log.c)
FUZZ_LIB_OBJS := $(patsubst %.c,$(O)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_CFLAGS := $(CSTD) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -D_GNU_SOURCE -MMD -MP \
	-I$(CURDIR)/include -I$(CURDIR)/bpf -I$(O)/bpf -I$(CURDIR)/userspace/lib $(PKG_CFLAGS)

# tests/unit/test_race.c once more with ThreadSanitizer ($(O)/tsan/, the
# tsan tier of tests/run.sh), against the library and test helpers built the
# same way; never combined with SANITIZE=1's ASan flags.
TSAN_CFLAGS := $(CSTD) $(WARN) -Wno-tsan -O2 -g -fno-omit-frame-pointer -fPIC -D_GNU_SOURCE \
	-fsanitize=thread -MMD -MP \
	-I$(CURDIR)/include -I$(CURDIR)/bpf -I$(O)/bpf -I$(CURDIR)/userspace/lib \
	-I$(CURDIR)/tests/lib $(PKG_CFLAGS)
TSAN_OBJS := $(patsubst %.c,$(O)/tsan/obj/%.o,$(LIB_SRCS) $(TEST_LIB_SRCS))
TSAN_BINS := $(O)/tsan/test_race

BINS := $(GEN_BIN) $(EXAMPLE_BINS) $(BENCH_BINS) $(DAEMON_BIN) $(CTL_BIN)
TEST_BINS := $(UNIT_BINS) $(BPFTEST_BINS) $(NETNS_BINS) $(TSAN_BINS)

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all lib test test-vm test-unit demo bench check install clean help deps fuzz tests deb

all: lib $(BINS) $(PRELOAD_SO) $(O)/xsnap.pc

lib: $(LIB_A) $(LIB_SO)

# BPF object -> skeleton
$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/xsnap/abi.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# Library and generator objects include skeletons.
$(LIB_OBJS) $(GEN_OBJS): $(BPF_SKELS)

$(O)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS) $(LIB_MAP)
	$(call msg,LINK,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=$(LIB_MAP) \
		$(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(PKG_LIBS) -lpthread
	$(Q)ln -sf $(notdir $@) $(O)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $(O)/libxsnap.so

$(PRELOAD_SO): $(PRELOAD_OBJS) $(LIB_OBJS) $(PRELOAD_MAP)
	$(call msg,LINK,$@)
	$(Q)$(CC) -shared -Wl,--version-script=$(PRELOAD_MAP) $(ALL_LDFLAGS) \
		-o $@ $(PRELOAD_OBJS) $(LIB_OBJS) $(PKG_LIBS) -lpthread -ldl

$(O)/xsnap.pc: userspace/lib/xsnap.pc.in Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# Programs link the static library: they run from the tree without LD_LIBRARY_PATH.
$(O)/xsnapd: $(DAEMON_OBJS) $(PROM_OBJ) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(O)/xsnapctl: $(CTL_OBJS) $(COMMON_OBJS) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lpcap

$(DAEMON_OBJS) $(CTL_OBJS): $(BPF_SKELS)

$(GEN_BIN): $(GEN_OBJS) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(O)/bench/%: $(O)/tools/bench/%.o $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

$(O)/tools/bench/%.o: $(BPF_SKELS)

# example file names use '_', program names '-' (flight_recorder.c → xsnap-flight-recorder)
define EXAMPLE_RULE
$(O)/examples/xsnap-$(subst _,-,$(1)): $(O)/examples/$(1).o $(COMMON_OBJS) $(LIB_A)
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) -lpthread -lpcap
endef
$(foreach e,$(basename $(notdir $(EXAMPLE_SRCS))),$(eval $(call EXAMPLE_RULE,$(e))))

$(O)/tests/%: $(O)/tests/%.o $(TEST_LIB_OBJS) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# the formatter's test links the formatter (before the library it calls)
$(O)/tests/unit/test_prom: $(O)/tests/unit/test_prom.o $(PROM_OBJ) $(TEST_LIB_OBJS) $(LIB_A)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(O)/tests/%.o: tests/%.c $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(CURDIR)/tests/lib -c $< -o $@

$(O)/tests/lib/%.o: tests/lib/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(CURDIR)/tests/lib -c $< -o $@

tests: $(TEST_BINS) $(FUZZ_BINS)

$(O)/tsan/obj/%.o: %.c $(BPF_SKELS)
	$(call msg,CC-TSAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TSAN_CFLAGS) -fvisibility=hidden -c $< -o $@

$(O)/tsan/%: tests/unit/%.c $(TSAN_OBJS)
	$(call msg,TSAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TSAN_CFLAGS) $^ -o $@ $(PKG_LIBS) -lpthread

fuzz: $(FUZZ_BINS)

$(O)/fuzz/obj/%.o: %.c $(BPF_SKELS)
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fvisibility=hidden -c $< -o $@

$(O)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(filter %.c %.o,$^) -o $@

# `make build/xsnap-gen` works like `make $(O)/xsnap-gen`.
ifneq ($(OUTPUT),$(O))
$(OUTPUT)/%: FORCE
	$(Q)$(MAKE) --no-print-directory $(O)/$*
.PHONY: FORCE
FORCE:
endif

# --- top-level jobs --------------------------------------------------------
deps:
	$(Q)scripts/install-deps.sh --check-or-install

test: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)OUTPUT=$(O) SANITIZE=$(SANITIZE) VALGRIND=$(VALGRIND) FUZZ_SECONDS=$(FUZZ_SECONDS) \
		tests/run.sh $(TESTFLAGS)

# The suite (by default its BPF tier and the steering, daemon and pcap lab
# tests) in a qemu VM on a Debian kernel package: KERNEL=6.1, 6.12, a package
# name or a .deb; VMFLAGS=--zc adds the virtio-net zero-copy test,
# VMFLAGS='-- -t ...' chooses the tests (scripts/test-vm.sh --help).
test-vm:
	$(Q)[ -n "$(KERNEL)" ] || { echo 'make test-vm: give KERNEL=6.1, 6.12, a package name or a .deb' \
		'(scripts/test-vm.sh --list-kernels)' >&2; exit 2; }
	$(Q)t0=$$(date +%s) && scripts/install-deps.sh --vm --check-or-install && \
		$(MAKE) --no-print-directory all tests && \
		OUTPUT=$(O) XSNAP_VM_T0=$$t0 scripts/test-vm.sh --kernel "$(KERNEL)" $(VMFLAGS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(O) scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUTPUT=$(O) scripts/bench.sh

# Debian packages xsnap, libxsnap0, libxsnap-dev (debian/) into $(O)/deb,
# built from a copy of the tree, then lintian (scripts/build-deb.sh).
deb: deps
	$(call msg,DEB,$(O)/deb)
	$(Q)scripts/build-deb.sh $(O)/deb

# Every exported symbol must be in the version map (and vice versa).
check: $(LIB_SO)
	$(Q)scripts/check-abi.sh $(LIB_SO) $(LIB_MAP) include/xsnap/xsnap.h

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/xsnap $(DESTDIR)$(BINDIR)
	$(Q)install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libxsnap.so
	$(Q)install -m 644 include/xsnap/xsnap.h include/xsnap/abi.h $(DESTDIR)$(INCLUDEDIR)/xsnap/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		userspace/lib/xsnap.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/xsnap.pc
	$(Q)install -m 755 $(GEN_BIN) $(CTL_BIN) $(DESTDIR)$(BINDIR)/
	$(Q)if [ -n "$(DAEMON_BIN)" ]; then install -d $(DESTDIR)$(PREFIX)/sbin && \
		install -m 755 $(DAEMON_BIN) $(DESTDIR)$(PREFIX)/sbin/; fi
	$(Q)install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	$(Q)sed 's|/usr/local/sbin/xsnapd|$(PREFIX)/sbin/xsnapd|' scripts/xsnapd.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/xsnapd.service
	$(Q)install -m 644 scripts/xsnapd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(Q)install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	$(Q)install -m 644 scripts/xsnapctl.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/xsnapctl
	$(Q)if ls docs/*.[0-9] >/dev/null 2>&1; then for m in docs/*.[0-9]; do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done; fi

clean:
	$(call msg,CLEAN,$(O))
	$(Q)rm -rf build build-san

help:
	@echo 'Targets:'
	@echo '  all       build the XDP program, libxsnap, xsnap-gen and examples (default)'
	@echo '  test      build and run unit, BPF and netns-lab tests (root for the last two)'
	@echo '  test-vm   the BPF and lab tests in a qemu VM on a Debian kernel (KERNEL=6.1, VMFLAGS)'
	@echo '  demo      run the two-tenant, three-consumer demo on a veth lab (root)'
	@echo '  bench     run the benchmark (root)'
	@echo '  check     check the exported symbols against libxsnap.map'
	@echo '  install   install library, headers, pkg-config file (PREFIX, DESTDIR)'
	@echo '  deb       Debian packages xsnap, libxsnap0, libxsnap-dev into build/deb, lintian'
	@echo '  clean     remove build outputs'
	@echo '  fuzz      build the libFuzzer targets (make test runs them FUZZ_SECONDS each, default 10)'
	@echo 'Variables: V=1 (echo commands), SANITIZE=1 (ASan+UBSan), VALGRIND=1 (unit tier),'
	@echo '           FUZZ_SECONDS=N, OUTPUT=dir, TESTFLAGS=...'

-include $(shell find $(O) -name '*.d' 2>/dev/null)
