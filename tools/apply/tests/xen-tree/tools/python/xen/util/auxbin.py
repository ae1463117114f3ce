# Stand-in (tests only) for xen/util/auxbin.py.  As Xen's, pathTo() finds a
# program in the install paths that the tree's build wrote to
# xen/util/path.py (make -C tools/python), SEARCHDIRS, and None where it is
# not; XEN_STANDIN_BIN (default: the stand-in's tools/xcutils) is searched
# first.
import os

try:
    from xen.util.path import BINDIR, SBINDIR, LIBEXEC, PRIVATE_BINDIR, \
        XENFIRMWAREDIR
    SEARCHDIRS = [BINDIR, SBINDIR, LIBEXEC, PRIVATE_BINDIR, XENFIRMWAREDIR]
except ImportError:     # tools/python not built
    SEARCHDIRS = []

_TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      '..', '..', '..')


def pathTo(name):
    first = os.environ.get('XEN_STANDIN_BIN',
                           os.path.join(_TOOLS, 'xcutils'))
    for d in [first] + SEARCHDIRS:
        exe = os.path.join(d, name)
        if os.path.exists(exe):
            return exe
    return None


def scripts_dir():
    return os.environ.get('XEN_STANDIN_SCRIPTS', '/etc/xen/scripts')
