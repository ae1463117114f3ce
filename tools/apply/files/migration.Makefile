# vtpm_migrate inside a Xen tree: built against the tree's own libxenctrl
# and libxenstore, installed with its man page. The project's standalone
# makefile is vtpm_migrate.mk (it also runs the tests: make -f vtpm_migrate.mk check).
XEN_ROOT = $(CURDIR)/../../..
include $(XEN_ROOT)/tools/Rules.mk

# The tree's CFLAGS are tuned for its own code; vtpm_migrate.mk sets its own.
unexport CFLAGS LDFLAGS

POD2MAN ?= pod2man
MANPAGE := $(XEN_ROOT)/docs/man/vtpm_migrate.pod.8

# Xen 4.1 calls the xenstore header xs.h; 4.2 has xenstore.h.
ifeq ($(wildcard $(XEN_ROOT)/tools/xenstore/xenstore.h),)
COMPAT_CFLAGS := -I$(CURDIR)/build/compat
COMPAT := build/compat/xenstore.h
endif

VM_MAKE = $(MAKE) -f vtpm_migrate.mk \
	PKG_CFLAGS="$(COMPAT_CFLAGS) $(CFLAGS_libxenctrl) $(CFLAGS_libxenstore) $$(pkg-config --cflags libcrypto)" \
	PKG_LIBS="$(LDLIBS_libxenctrl) $(LDLIBS_libxenstore) $$(pkg-config --libs libcrypto)"

.PHONY: all build install clean
all: build

build/compat/xenstore.h:
	mkdir -p build/compat
	echo '#include <xs.h>' >$@

build: $(COMPAT)
	$(VM_MAKE) build/vtpm_migrate
	@if which $(POD2MAN) >/dev/null 2>&1; then \
	  $(POD2MAN) --section=8 --center="Xen" --release=Xen \
	    --name=VTPM_MIGRATE $(MANPAGE) build/vtpm_migrate.8; \
	else echo "pod2man not installed; skipping vtpm_migrate.8"; fi

install: build
	$(INSTALL_DIR) $(DESTDIR)$(SBINDIR)
	$(INSTALL_PROG) build/vtpm_migrate $(DESTDIR)$(SBINDIR)
	if [ -f build/vtpm_migrate.8 ]; then \
	  $(INSTALL_DIR) $(DESTDIR)$(MAN8DIR); \
	  $(INSTALL_DATA) build/vtpm_migrate.8 $(DESTDIR)$(MAN8DIR); fi

clean:
	$(VM_MAKE) clean
