# Stand-in (tests only): what a Xen tree's tools/Rules.mk gives the
# vtpm_migrate wrapper, with this machine's Xen libraries in place of the
# tree's own, and the tree's compiler flags, which must not reach it.
PREFIX ?= /usr
SBINDIR = $(PREFIX)/sbin
MAN8DIR = $(PREFIX)/share/man/man8
INSTALL = install
INSTALL_DIR = $(INSTALL) -d -m0755 -p
INSTALL_PROG = $(INSTALL) -m0755 -p
INSTALL_DATA = $(INSTALL) -m0644 -p

CFLAGS_libxenctrl = $(shell pkg-config --cflags xencontrol xentoollog)
LDLIBS_libxenctrl = $(shell pkg-config --libs xencontrol xentoollog)
CFLAGS_libxenstore = $(shell pkg-config --cflags xenstore)
LDLIBS_libxenstore = $(shell pkg-config --libs xenstore)

CFLAGS += -DSTANDIN_TREE_CFLAGS_LEAKED=1 -std=gnu89
export CFLAGS
