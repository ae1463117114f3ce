# Stand-in (tests only): xend's xstransact, backed by the real xenstored of
# the test host through the xenstore-* tools (XENSTORED_PATH).
import os
import subprocess


def _run(argv):
    p = subprocess.Popen(argv, stdin=open(os.devnull), close_fds=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = p.communicate()
    return out.decode() if p.returncode == 0 else None


class xstransact(object):
    @staticmethod
    def Read(path):
        out = _run(['xenstore-read', path])
        return None if out is None else out.rstrip('\n')

    @staticmethod
    def List(path):
        out = _run(['xenstore-list', path])
        return [] if out is None else out.split()

    @staticmethod
    def Write(path, value):
        _run(['xenstore-write', path, value])

    @staticmethod
    def Remove(path):
        _run(['xenstore-rm', path])
