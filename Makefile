# vTPM migration for the Xen tools: top-level targets.
#   make          build vtpm_migrate (or name, in one line, the packages it lacks)
#   make check    install missing test packages (as root), build, run every test
#   make demo     one migration as xend runs it, between two hosts, compared
#   make bench    measure the vTPM step against the raw control-channel floor
#   make install  DESTDIR=... PREFIX=...

M := tools/vtpm_manager/migration
PREFIX ?= /usr
DESTDIR ?=
export PREFIX DESTDIR

.PHONY: all deps check check-xen demo bench install uninstall clean

# A plain build (check, demo and bench install their packages first, deps):
# on a machine that lacks a package, stop before building with one line
# that names them.
ifneq ($(filter all install,$(or $(MAKECMDGOALS),all)),)
BUILD_MISSING := $(shell CC='$(CC)' $(M)/deps.sh --build)
ifneq ($(BUILD_MISSING),)
$(error missing packages: $(BUILD_MISSING); `make check` or `make demo` installs them (as root with apt-get), or apt-get install $(BUILD_MISSING))
endif
endif

all:
	$(MAKE) -C $(M)

deps:
	@$(M)/deps.sh

check: deps
	$(MAKE) -C $(M) check
	$(MAKE) -C tools/python check
	$(MAKE) -C tools/examples check
	$(MAKE) -C tools/apply check
	$(MAKE) -C docs check
	tests/install-test.sh

check-xen: deps
	$(MAKE) -C $(M)
	$(M)/tests/xen/check-xen.sh

demo: deps
	$(MAKE) -C $(M) demo

bench: deps
	$(MAKE) -C $(M) bench

install: all
	$(MAKE) -C $(M) install
	$(MAKE) -C tools/python install
	$(MAKE) -C tools/examples install
	$(MAKE) -C docs install

uninstall:
	$(MAKE) -C $(M) uninstall
	$(MAKE) -C tools/python uninstall
	$(MAKE) -C tools/examples uninstall
	$(MAKE) -C docs uninstall

clean:
	$(MAKE) -C $(M) clean
	$(MAKE) -C docs clean
