# Stand-in (tests only) for a Xen 4.2 tree's tools/Rules.mk: what a tools/
# folder's Makefile gets by including it, in the order Xen has it.  The tree's libraries are this
# machine's Xen libraries; their headers are reached through the tree's
# tools/libxc and tools/xenstore, as in a real tree.

# The first target: `all' by default.
all:

include $(XEN_ROOT)/Config.mk

XEN_INCLUDE  = $(XEN_ROOT)/tools/include
XEN_LIBXC    = $(XEN_ROOT)/tools/libxc
XEN_XENSTORE = $(XEN_ROOT)/tools/xenstore

CFLAGS_xeninclude  = -I$(XEN_INCLUDE)
CFLAGS_libxenctrl  = -I$(XEN_LIBXC) $(CFLAGS_xeninclude)
LDLIBS_libxenctrl  = $(shell pkg-config --libs xencontrol xentoollog)
CFLAGS_libxenstore = -I$(XEN_XENSTORE) $(CFLAGS_xeninclude)
LDLIBS_libxenstore = $(shell pkg-config --libs xenstore)

CFLAGS += -D__XEN_TOOLS__

# Dependency files beside the Makefile, one per object.
CFLAGS += -MMD -MF .$(if $(filter-out .,$(@D)),$(subst /,@,$(@D))@)$(@F).d
DEPS = .*.d

CFLAGS  += -D_LARGEFILE_SOURCE -D_LARGEFILE64_SOURCE -D_FILE_OFFSET_BITS=64

# Per-compiler flags (CFLAGS-$(clang)), then a distribution's own, last in
# CFLAGS (Xen 4.2; APPEND_CFLAGS comes after them on the compile line).
CFLAGS += $(CFLAGS-y)
CFLAGS += $(EXTRA_CFLAGS_XEN_TOOLS)

%.o: %.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $< $(APPEND_CFLAGS)

# Each SUBDIRS entry is made through subdir-TARGET-DIR ...
subdirs-all subdirs-clean subdirs-install subdirs-distclean: .phony
	@set -e; for subdir in $(SUBDIRS) $(SUBDIRS-y); do \
		$(MAKE) subdir-$(patsubst subdirs-%,%,$@)-$$subdir; \
	done

# ... which these patterns make for a DIR without a slash only: make matches
# a pattern without a slash against the part of the name after the last one.
subdir-all-% subdir-clean-% subdir-install-%: .phony
	$(MAKE) -C $* $(patsubst subdir-%-$*,%,$@)

subdir-distclean-%: .phony
	$(MAKE) -C $* clean
