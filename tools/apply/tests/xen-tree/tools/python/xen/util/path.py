# Stand-in (tests only) for the xen/util/path.py that Xen's build writes
# from Config.mk (buildmakevars2file): where the tools were installed.  Here
# every binary directory is the stand-in tree's tools/xcutils.
import os

_XCUTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        '..', '..', '..', 'xcutils')
BINDIR = SBINDIR = LIBEXEC = PRIVATE_BINDIR = XENFIRMWAREDIR = \
    os.path.normpath(_XCUTILS)
