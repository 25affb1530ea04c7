# kiln - build, test, demo, install.  See README.md.
#
#   make deps    install the Debian packages kiln builds and tests with (root)
#   make         build build/kiln
#   make test    deps + build + every unit and CLI test; ends "N passed, M failed"
#   make demo    deps + build + the main job on examples/hello-web
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
CC ?= cc
# libcurl is compiled against but not linked: lib/curlload.c loads it on the
# first download (its ~30 libraries would cost every command ~4 ms to start).
PKGS := yaml-0.1 libarchive libgit2 openssl jansson libdeflate libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter \
	  -Wno-missing-field-initializers -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	  -D_GNU_SOURCE -Ilib $(PKG_CFLAGS)
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
DEB_ALL := $(DEB_BUILD) $(DEB_TOOLS) $(DEB_JUDGES)

B := build
LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CMD_SRC := $(sort $(wildcard cmd/kiln/*.c))
CMD_OBJ := $(CMD_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all deps test check unit demo install clean fuzz bench
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

$(B)/%.o: %.c $(wildcard lib/*.h) $(wildcard cmd/kiln/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/kiln: $(CMD_OBJ) $(B)/libkiln.a
	$(CC) $(CFLAGS) -o $@ $(CMD_OBJ) $(B)/libkiln.a $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/tap.h $(B)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libkiln.a $(LDLIBS)

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
