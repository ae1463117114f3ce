# Stand-in (tests only): xend's xPopen3, as xend starts xc_save: the child
# gets pipes for stdin/stdout (and stderr), every other descriptor is closed
# except those in passfd, which stay open across exec as every descriptor
# does under Python 2.  Text-mode files, as under Python 2.
import fcntl
import os

MAXFD = 1024

# As xend's: every new child first reaps the children that have ended, so
# a child's status may be taken before its owner waits for it.
_active = []


def _cleanup():
    for inst in _active[:]:
        inst.poll()


class xPopen3(object):
    sts = -1

    def __init__(self, cmd, capturestderr=False, bufsize=-1, passfd=(),
                 env=None):
        _cleanup()
        p2cread, p2cwrite = os.pipe()
        c2pread, c2pwrite = os.pipe()
        if capturestderr:
            errout, errin = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.dup2(p2cread, 0)
            os.dup2(c2pwrite, 1)
            if capturestderr:
                os.dup2(errin, 2)
            for i in passfd:
                fcntl.fcntl(i, fcntl.F_SETFD, 0)
            for i in range(3, MAXFD):
                if i not in passfd:
                    try:
                        os.close(i)
                    except OSError:
                        pass
            try:
                if env is None:
                    os.execvp(cmd[0], cmd)
                else:
                    os.execvpe(cmd[0], cmd, env)
            finally:
                os._exit(127)
        os.close(p2cread)
        self.tochild = os.fdopen(p2cwrite, 'w')
        os.close(c2pwrite)
        self.fromchild = os.fdopen(c2pread, 'r')
        self.childerr = None
        if capturestderr:
            os.close(errin)
            self.childerr = os.fdopen(errout, 'r')
        _active.append(self)

    def poll(self):
        if self.sts < 0:
            pid, sts = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.sts = sts
                _active.remove(self)
        return self.sts

    def wait(self):
        if self.sts < 0:
            pid, self.sts = os.waitpid(self.pid, 0)
            _active.remove(self)
        return self.sts
