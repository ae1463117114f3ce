# Stand-in (tests only): where the helper programs and scripts are.
import os

_TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      '..', '..', '..')


def pathTo(name):
    bindir = os.environ.get('XEN_STANDIN_BIN',
                            os.path.join(_TOOLS, 'xcutils'))
    return os.path.join(bindir, name)


def scripts_dir():
    return os.environ.get('XEN_STANDIN_SCRIPTS', '/etc/xen/scripts')
