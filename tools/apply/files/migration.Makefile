# SPDX-License-Identifier: BSD-3-Clause
# Distributed under the licence in tools/vtpm_manager/COPYING.
#
# vTPM migration: vtpm_migrate moves a guest's vTPM (one swtpm process in
# dom0) inside xend's migration stream, vtpm_backend carries the guest's TPM
# commands to it (docs/misc/vtpm-migration.txt).  Built like the rest of
# tools/: the tree's $(CC), $(AR), CFLAGS, and its own libxenctrl and
# libxenstore; OpenSSL's libcrypto (>= 1.1.1) from the system, as
# vtpm_manager takes it.  Objects go to build/.
#
#   make              the programs and their man pages
#   make check        build and run the unit tests (needs `check'; the swtpm
#                     control tests need swtpm)
#   make install      $(SBINDIR), $(MAN8DIR)
#   make uninstall / clean

XEN_ROOT = $(CURDIR)/../../..
include $(XEN_ROOT)/tools/Rules.mk

# The programs (PROG.c and its PROG_SRCS, linked with the library) and the
# library's sources.
PROGS    :=
LIB_SRCS :=
UNIT_SRCS := $(wildcard tests/unit/*.c)

B         := build
LIB       := $(B)/libvtpmmig.a
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(B)/%.o)
MAN8      := $(PROGS:%=$(B)/%.8)
POD2MAN   ?= pod2man
PKG_CONFIG ?= pkg-config

# Xen 4.1 names the xenstore header xs.h; the sources include xenstore.h.
ifeq ($(wildcard $(XEN_ROOT)/tools/xenstore/xenstore.h),)
COMPAT          := $(B)/compat/xenstore.h
COMPAT_CPPFLAGS := -I$(B)/compat
endif

# Apart from CFLAGS, so that a CFLAGS given on make's command line adds to
# them and never drops them: the tree's own headers are found first, and
# these sources build without a warning.  The warnings come before CFLAGS,
# which ends with EXTRA_CFLAGS_XEN_TOOLS (Xen 4.2), and APPEND_CFLAGS comes
# last, as in the tree's own rules: a distribution's -Wno-error wins.
# VTPM_XEN_LIBXC: Xen 4.1 and 4.2 have grant tables and event channels in
# libxenctrl.
VTPM_CPPFLAGS = -I. $(COMPAT_CPPFLAGS) $(CFLAGS_libxenctrl) $(CFLAGS_libxenstore) \
                -DVTPM_XEN_LIBXC
VTPM_CFLAGS   = -Wall -Wextra -Werror
VTPM_LDLIBS   = $(LDLIBS_libxenctrl) $(LDLIBS_libxenstore) -lcrypto

$(UNIT_OBJS): VTPM_CFLAGS += $(shell $(PKG_CONFIG) --cflags check)

.PHONY: all build man check install uninstall clean distclean
all: build

build: $(PROGS:%=$(B)/%) man

$(B)/%.o: %.c $(wildcard *.h tests/unit/*.h) | $(COMPAT)
	@mkdir -p $(@D)
	$(CC) $(VTPM_CPPFLAGS) $(VTPM_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $< $(APPEND_CFLAGS)

$(LIB): $(LIB_OBJS)
	rm -f $@
	$(AR) rc $@ $^

.SECONDEXPANSION:
$(PROGS:%=$(B)/%): $(B)/%: $(B)/%.o $$(addprefix $(B)/,$$($$*_SRCS:.c=.o)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(VTPM_LDLIBS) $(APPEND_LDFLAGS)

$(B)/unit_tests: $(UNIT_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs check) $(VTPM_LDLIBS) $(APPEND_LDFLAGS)

$(B)/compat/xenstore.h:
	@mkdir -p $(@D)
	echo '#include <xs.h>' >$@

man:
	@if which $(POD2MAN) >/dev/null 2>&1; then \
	  $(MAKE) $(MAN8); \
	else echo "pod2man not installed; skipping $(notdir $(MAN8))"; fi

$(B)/%.8: $(XEN_ROOT)/docs/man/%.pod.8
	@mkdir -p $(@D)
	$(POD2MAN) --section=8 --center="Xen" --release="Xen" \
	  --name=`echo $* | tr a-z A-Z` $< $@

# Run against the tree's own libraries, not installed ones.
check: $(PROGS:%=$(B)/%) $(B)/unit_tests
	LD_LIBRARY_PATH=$(XEN_LIBXC):$(XEN_XENSTORE)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH} \
	VTPM_TEST_BIN=$(CURDIR)/$(B) VTPM_TEST_SRC=$(CURDIR) $(B)/unit_tests

install: build
	$(INSTALL_DIR) $(DESTDIR)$(SBINDIR)
	$(INSTALL_PROG) $(PROGS:%=$(B)/%) $(DESTDIR)$(SBINDIR)
	set -e; for m in $(MAN8); do \
	  if [ -f $$m ]; then \
	    $(INSTALL_DIR) $(DESTDIR)$(MAN8DIR); \
	    $(INSTALL_DATA) $$m $(DESTDIR)$(MAN8DIR); \
	  fi; \
	done

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(SBINDIR)/%) $(PROGS:%=$(DESTDIR)$(MAN8DIR)/%.8)

clean:
	rm -rf $(B) $(DEPS)

distclean: clean

-include $(DEPS)
