# Stand-in (tests only) for a Xen 4.1/4.2 tree's Config.mk with its
# config/StdGNU.mk: the parts the tools build takes from them.  As in Xen,
# the compiler and archiver follow CROSS_COMPILE (clang=y: clang), CFLAGS
# carry the tree's language level and warnings, APPEND_CFLAGS is what a
# distribution adds last, and genpath writes the install paths to a file.
XEN_COMPILE_ARCH ?= $(shell uname -m)
XEN_TARGET_ARCH  ?= $(XEN_COMPILE_ARCH)
XEN_OS           ?= $(shell uname -s)
CONFIG_$(XEN_OS) := y

DESTDIR ?= /

# A prerequisite that forces a rule to run, as Xen writes it.
.PHONY: .phony

ifeq ($(clang),y)
CC      = $(CROSS_COMPILE)clang
else
CC      = $(CROSS_COMPILE)gcc
endif
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
LIBEXEC  = $(PREFIX)/lib/xen/bin
SHAREDIR = $(PREFIX)/share
MANDIR   = $(SHAREDIR)/man
MAN1DIR  = $(MANDIR)/man1
MAN8DIR  = $(MANDIR)/man8
XENFIRMWAREDIR = $(PREFIX)/lib/xen/boot
PRIVATE_BINDIR = $(LIBDIR)/xen/bin

ifeq ($(PREFIX),/usr)
CONFIG_DIR     = /etc
XEN_LOCK_DIR   = /var/lock
XEN_RUN_DIR    = /var/run/xen
XEN_PAGING_DIR = /var/lib/xen/xenpaging
else
CONFIG_DIR     = $(PREFIX)/etc
XEN_LOCK_DIR   = $(PREFIX)/var/lock
XEN_RUN_DIR    = $(PREFIX)/var/run/xen
XEN_PAGING_DIR = $(PREFIX)/var/lib/xen/xenpaging
endif
XEN_CONFIG_DIR = $(CONFIG_DIR)/xen
XEN_SCRIPT_DIR = $(XEN_CONFIG_DIR)/scripts

CFLAGS += -O2 -fomit-frame-pointer -g -fno-strict-aliasing
CFLAGS += -std=gnu99 -Wall -Wstrict-prototypes -Wdeclaration-after-statement
CFLAGS += -Wno-unused-but-set-variable
CFLAGS-$(clang) += -Wno-parentheses -Wno-format -Wno-unused-value

APPEND_CFLAGS += $(foreach i, $(APPEND_INCLUDES), -I$(i))

# $(call buildmakevars2file,FILE): a `genpath' target that writes the
# install paths to FILE as NAME="value" lines, which a shell script sources
# and Python imports (tools/python: xen/util/path.py; tools/hotplug/common:
# hotplugpath.sh).
buildmakevars2file = $(eval $(call buildmakevars2file-closure,$(1)))
define buildmakevars2file-closure
    .PHONY: genpath
    genpath:
	rm -f $(1).tmp; \
	$(foreach var, SBINDIR BINDIR LIBEXEC LIBDIR SHAREDIR PRIVATE_BINDIR \
	          XENFIRMWAREDIR XEN_CONFIG_DIR XEN_SCRIPT_DIR XEN_LOCK_DIR \
	          XEN_RUN_DIR XEN_PAGING_DIR, \
	          echo "$(var)=\"$($(var))\"" >>$(1).tmp;) \
	mv -f $(1).tmp $(1)
endef
