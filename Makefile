# vTPM migration for the Xen tools: top-level targets.
#   make          build vtpm_migrate
#   make check    install missing test packages (as root), build, run every test
#   make demo     migrate a populated vTPM between two hosts and compare
#   make bench    measure the vTPM step against the raw control-channel floor
#   make install  DESTDIR=... PREFIX=...

M := tools/vtpm_manager/migration
PREFIX ?= /usr
DESTDIR ?=
export PREFIX DESTDIR

.PHONY: all deps check check-xen demo bench install uninstall clean

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
