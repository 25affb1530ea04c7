# kiln - build, test, demo, install.  See README.md.
#
#   make deps    install the Debian packages kiln builds and tests with (root)
#   make         build build/kiln
#   make test    deps + build + every unit and CLI test; ends "N passed, M failed"
#   make demo    deps + build + the main job on examples/hello-web
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
CC ?= cc
# libcurl is compiled against but not linked: lib/io/curlload.c loads it on the
# first download (its ~30 libraries would cost every command ~4 ms to start).
PKGS := yaml-0.1 libarchive libgit2 openssl jansson libdeflate libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter \
	  -Wno-missing-field-initializers -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	  -D_GNU_SOURCE $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

KILN_VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS += -DKILN_VERSION='"$(KILN_VERSION)"'

# Debian packages needed to build, test and demo (installed by `make deps`).
DEB_BUILD := build-essential pkg-config libyaml-dev libarchive-dev libgit2-dev \
	     libssl-dev libcurl4-openssl-dev libjansson-dev libdeflate-dev libzstd-dev
DEB_TOOLS := gpgv gpg git dpkg-dev xz-utils zstd python3 curl bc debian-archive-keyring \
	     ca-certificates apt openssl busybox-static nftables iproute2
# Independent judges of what kiln writes (tests and demo).
DEB_JUDGES := skopeo umoci podman runc python3-jsonschema golang-github-opencontainers-image-spec-dev strace
# Clients the stock manifests' tests talk to their services with (manifests/).
DEB_CLIENTS := postgresql-client openssh-client
DEB_ALL := $(DEB_BUILD) $(DEB_TOOLS) $(DEB_JUDGES) $(DEB_CLIENTS)

# The floors of lib/ (docs/architecture.md), lowest first.  A folder's
# files are compiled with the include paths of the floors it sees (its own
# and those below it) and no others, so an #include that points up or
# sideways does not compile.  tests/cli/t0005-layering.sh checks that, and
# reads these lists with `make -s print-floors`, `print-sees-FLOOR` and
# `print-cflags-FLOOR`.
FLOORS := base debian formats io image net runtime ops
SEES_base    := base
SEES_debian  := debian base
SEES_formats := formats debian base
SEES_io      := io formats debian base
SEES_image   := image io formats debian base
SEES_net     := net base
SEES_runtime := runtime base
SEES_ops     := ops runtime net image io formats debian base
# cmd/kiln, the unit tests and the fuzz targets sit on top and see every floor.
SEES_top     := $(SEES_ops)
floor_inc = $(addprefix -Ilib/,$(SEES_$(1)))
# The floor an object is compiled for: build/lib/FLOOR/x.o, else the top.
floor_of = $(if $(filter $(B)/lib/%,$(1)),$(firstword $(subst /, ,$(patsubst $(B)/lib/%,%,$(1)))),top)

B := build
LIB_SRC := $(sort $(foreach f,$(FLOORS),$(wildcard lib/$(f)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CMD_SRC := $(sort $(wildcard cmd/kiln/*.c))
CMD_OBJ := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Header dependencies come from the compiler (-MMD -MP), one .d per output.
DEP_FLAGS = -MMD -MP -MF $@.d

.PHONY: all deps test check unit demo install clean fuzz bench print-floors
all: $(B)/kiln $(UNIT_BIN)

deps:
	@missing=$$(for p in $(DEB_ALL); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to apt-get install: $$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call floor_inc,$(call floor_of,$@)) $(DEP_FLAGS) -c -o $@ $<

# The container init of `kiln run --init` (lib/runtime/init.h): a program of
# its own, static (an image may have no libc) and small (-Os, no stdio),
# whose bytes blob.S assembles into libkiln.a with .incbin.  It does not
# take $(CFLAGS): -O2 -g or a sanitizer would bloat or break it.
INIT_CFLAGS := -Os -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -static -s \
	       -ffunction-sections -fdata-sections -Wl,--gc-sections
INIT_OBJ := $(B)/lib/runtime/init-blob.o

$(B)/kiln-init: lib/runtime/init/kiln-init.c
	@mkdir -p $(dir $@)
	$(CC) $(INIT_CFLAGS) -o $@ $<

$(INIT_OBJ): lib/runtime/init/blob.S $(B)/kiln-init
	@mkdir -p $(dir $@)
	$(CC) -c -DKILN_INIT_BIN='"$(B)/kiln-init"' -o $@ $<

$(B)/libkiln.a: $(LIB_OBJ) $(INIT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/kiln: $(CMD_OBJ) $(B)/libkiln.a
	$(CC) $(CFLAGS) -o $@ $(CMD_OBJ) $(B)/libkiln.a $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call floor_inc,top) -Itests/unit $(DEP_FLAGS) -o $@ $< $(B)/libkiln.a $(LDLIBS)

# bench/compress.c (not part of `make bench`: see its header).
$(B)/bench-compress: bench/compress.c $(B)/libkiln.a
	$(CC) $(CFLAGS) $(call floor_inc,base) $(DEP_FLAGS) -o $@ $< $(B)/libkiln.a $(LDLIBS) -lz

-include $(wildcard $(B)/lib/*/*.d $(B)/cmd/kiln/*.d $(B)/tests/*.d $(B)/bench-compress.d)

print-floors:
	@echo $(FLOORS)
print-sees-%:
	@echo $(SEES_$*)
print-cflags-%:
	@echo $(CFLAGS) $(call floor_inc,$*)
print-cc:
	@echo $(CC)

unit: $(UNIT_BIN)

test check: deps
	$(MAKE) all
	tests/run

demo: deps
	$(MAKE) all
	examples/demo.sh

bench: deps
	$(MAKE) all
	bench/run

# libFuzzer targets for the parsers (clang); `make fuzz FUZZ_SECONDS=60`.
FUZZ_SECONDS ?= 20
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)

install: $(B)/kiln
	install -D -m 0755 $(B)/kiln $(DESTDIR)$(PREFIX)/bin/kiln
	for m in docs/man/*.1; do [ -f "$$m" ] && install -D -m 0644 "$$m" $(DESTDIR)$(PREFIX)/share/man/man1/$$(basename $$m); done; true

clean:
	rm -rf $(B)
