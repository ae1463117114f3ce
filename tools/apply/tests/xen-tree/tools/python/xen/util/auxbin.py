# Stand-in (tests only): where the helper programs and scripts are, found
# as Xen's auxbin finds them (the first of the build's directories that has
# the program, else None).
import os
from xen.util.path import *

SEARCHDIRS = [BINDIR, SBINDIR, LIBEXEC, PRIVATE_BINDIR, XENFIRMWAREDIR]


def pathTo(exebin):
    for dir in SEARCHDIRS:
        exe = os.path.join(dir, exebin)
        if os.path.exists(exe):
            return exe
    return None


def scripts_dir():
    return os.environ.get('XEN_STANDIN_SCRIPTS', '/etc/xen/scripts')
