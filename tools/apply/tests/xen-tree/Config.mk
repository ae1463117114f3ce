# Stand-in (tests only) for a Xen 4.1/4.2 tree's Config.mk: the parts the
# tools build takes from it.  As in Xen, the compiler and archiver follow
# CROSS_COMPILE, and CFLAGS carry the tree's language level and warnings.
XEN_COMPILE_ARCH ?= $(shell uname -m)
XEN_TARGET_ARCH  ?= $(XEN_COMPILE_ARCH)
XEN_OS           ?= $(shell uname -s)
CONFIG_$(XEN_OS) := y

DESTDIR ?= /

# A prerequisite that forces a rule to run, as Xen writes it.
.PHONY: .phony

CC      = $(CROSS_COMPILE)gcc
LD      = $(CROSS_COMPILE)ld
AR      = $(CROSS_COMPILE)ar
RANLIB  = $(CROSS_COMPILE)ranlib

INSTALL      = install
INSTALL_DIR  = $(INSTALL) -d -m0755 -p
INSTALL_DATA = $(INSTALL) -m0644 -p
INSTALL_PROG = $(INSTALL) -m0755 -p

PREFIX  ?= /usr
BINDIR   = $(PREFIX)/bin
SBINDIR  = $(PREFIX)/sbin
LIBDIR   = $(PREFIX)/lib
SHAREDIR = $(PREFIX)/share
MANDIR   = $(SHAREDIR)/man
MAN1DIR  = $(MANDIR)/man1
MAN8DIR  = $(MANDIR)/man8

CFLAGS += -O2 -fomit-frame-pointer -g -fno-strict-aliasing
CFLAGS += -std=gnu99 -Wall -Wstrict-prototypes -Wdeclaration-after-statement
CFLAGS += -Wno-unused-but-set-variable
