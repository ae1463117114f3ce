"""Shared pieces of the xend harness: hosts, swtpm instances, the patched tree.

A "host" is a key directory for vtpm_migrate plus the swtpm instances that
live on it; each side of a migration runs as its own process (xendhost.py),
as xend does on two machines, joined by a real TCP connection, pipe or file.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

TESTS = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS)
PROJECT = os.path.dirname(os.path.dirname(PYTHON_DIR))
STANDIN_TREE = os.path.join(PROJECT, 'tools', 'apply', 'tests', 'xen-tree')
APPLY = os.path.join(PROJECT, 'tools', 'apply', 'apply-to-xen-tree.py')
BUILD = os.path.join(PROJECT, 'tools', 'vtpm_manager', 'migration', 'build')
BUILT_HELPER = os.path.join(BUILD, 'vtpm_migrate')
XENSTORED = '/usr/lib/xen-4.17/bin/xenstored'
XENSTORED_SHIM = os.path.join(BUILD, 'shim', 'xenstored_shim.so')
DOMSTATE_SHIM = os.path.join(BUILD, 'shim', 'xc_domstate.so')
PRIVATE_INSTALL = os.path.join(PROJECT, 'tools', 'examples', 'tests',
                               'private-install.sh')
TRACE_HELPER = os.path.join(TESTS, 'trace-helper')
BACKEND_PROGRAM = os.path.join(BUILD, 'vtpm_backend')
XENDHOST = os.path.join(TESTS, 'xendhost.py')
# The Python xend runs on: 2.7 where the Makefile found one.
XEND_PYTHON = os.environ.get('XEND_PYTHON') or sys.executable


def helper_path():
    """The real vtpm_migrate: $VTPM_MIGRATE, else the build folder's."""
    return os.environ.get('VTPM_MIGRATE', BUILT_HELPER)


def missing_tools():
    """Why the two-host tests cannot run here, or None."""
    if not os.access(helper_path(), os.X_OK):
        return 'no vtpm_migrate at %s (build it, or set VTPM_MIGRATE)' \
            % helper_path()
    if '--announce' not in run([helper_path(), 'recv', '--help'],
                               check=False)[1]:
        return ('waiting for vtpm_migrate with the announcement contract '
                '(recv --announce, send --staged --timeout)')
    for tool in ('swtpm', 'swtpm_ioctl', 'tpm2_pcrread', 'tpm2_nvread'):
        if shutil.which(tool) is None:
            return 'missing %s' % tool
    return None


def missing_xen_tools():
    """Why the Xen-mode tests cannot run here, or None."""
    for path in (XENSTORED, XENSTORED_SHIM, DOMSTATE_SHIM):
        if not os.path.exists(path):
            return 'missing %s' % path
    for tool in ('xenstore-read', 'xenstore-write', 'xenstore-list'):
        if shutil.which(tool) is None:
            return 'missing %s' % tool
    return None


class Xenstored(object):
    """The real C xenstored of one host, under the hypervisor stand-in."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory)
        self.socket = os.path.join(directory, 'socket')
        env = dict(os.environ)
        env['XENSTORED_RUNDIR'] = directory
        env['LD_PRELOAD'] = XENSTORED_SHIM
        self.log = open(os.path.join(directory, 'xenstored.log'), 'w')
        self.proc = subprocess.Popen([XENSTORED, '-N'], env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 5
        while not os.path.exists(self.socket):
            if time.time() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError('xenstored in %s did not start'
                                     % directory)
            time.sleep(0.01)

    def env(self):
        env = dict(os.environ)
        env['XENSTORED_PATH'] = self.socket
        return env

    def write(self, *pairs):
        run(['xenstore-write'] + list(pairs), env=self.env())

    def read(self, path):
        rc, out, err = run(['xenstore-read', path], env=self.env(),
                           check=False)
        return out.strip() if rc == 0 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run(argv, env=None, check=True, input_data=None):
    # close_fds: under Python 2 a child would keep xend's pipes open
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, close_fds=True)
    out, err = p.communicate(input_data)
    if check and p.returncode != 0:
        raise AssertionError('%s failed (%d): %s' % (' '.join(argv),
                             p.returncode, err.decode(errors='replace')))
    return p.returncode, out.decode(errors='replace'), \
        err.decode(errors='replace')


# ---- the patched stand-in tree -------------------------------------------------

def patched_tree(workdir):
    """A copy of the stand-in Xen tree with the patch applied."""
    tree = os.path.join(workdir, 'xen-tree')
    shutil.copytree(STANDIN_TREE, tree, symlinks=True)
    run([sys.executable, APPLY, tree])
    return tree


# ---- hosts and their keys ------------------------------------------------------

class Host(object):
    def __init__(self, workdir, name):
        self.name = name
        self.dir = os.path.join(workdir, name)
        self.key_dir = os.path.join(self.dir, 'keys')
        os.makedirs(self.dir)
        run([helper_path(), 'keygen', '-d', self.key_dir, '-n', name])

    def pubkey(self):
        return os.path.join(self.key_dir, 'host.pub')

    def trust(self, other, name=None):
        run([helper_path(), 'trust', '-d', self.key_dir, other.pubkey(),
             name or other.name])


# ---- swtpm ---------------------------------------------------------------------

class Swtpm(object):
    """One swtpm with the instance layout of CONTRACT.md."""

    def __init__(self, directory, tpm2=True):
        self.dir = directory
        self.tpm2 = tpm2
        self.ctrl = os.path.join(directory, 'data.ctrl')
        self.data = os.path.join(directory, 'data')
        self.pidfile = os.path.join(directory, 'pid')

    def argv(self, running):
        argv = ['swtpm', 'socket', '--tpmstate', 'dir=' + self.dir,
                '--ctrl', 'type=unixio,path=' + self.ctrl,
                '--server', 'type=unixio,path=' + self.data,
                '--pid', 'file=' + self.pidfile,
                '--log', 'file=%s/swtpm.log,level=1' % self.dir, '-d']
        if self.tpm2:
            argv.append('--tpm2')
        if running:
            argv += ['--flags', 'startup-clear']
        return argv

    def start(self, running=True):
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir)
        for path in (self.ctrl, self.data, self.pidfile):
            if os.path.exists(path):
                os.remove(path)
        run(self.argv(running))
        deadline = time.time() + 5
        while not (self.has_socket() and self.pid()):
            if time.time() > deadline:
                raise AssertionError('swtpm in %s did not come up' % self.dir)
            time.sleep(0.01)
        return self

    def has_socket(self):
        try:
            return stat.S_ISSOCK(os.stat(self.ctrl).st_mode)
        except OSError:
            return False

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (IOError, OSError, ValueError):
            return None

    def alive(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ')
            with open('/proc/%d/stat' % pid) as f:
                if f.read().split(') ')[-1].startswith('Z'):
                    return False
        except (IOError, OSError):
            return False
        return ('dir=' + self.dir + ' ').encode() in cmdline

    def stop(self):
        pid = self.pid()
        if pid is None or not self.alive():
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while self.alive():
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.01)

    def has_state(self):
        return any(os.path.exists(os.path.join(self.dir, n))
                   for n in ('tpm2-00.permall', 'tpm-00.permall'))

    # tpm2-tools over this instance's data socket
    def tool(self, *argv):
        env = dict(os.environ)
        env['TPM2TOOLS_TCTI'] = 'swtpm:path=' + self.data
        return run(list(argv), env=env)[1]

    def pcr16(self):
        return self.tool('tpm2_pcrread', 'sha256:16').split('16:')[1].split()[0]

    def plant(self, secret):
        """Extend PCR 16 and store secret in an NV index."""
        self.tool('tpm2_pcrextend', '16:sha256=' + '00' * 31 + '2a')
        self.tool('tpm2_nvdefine', '0x1500016', '-C', 'o', '-s',
                  str(len(secret)), '-a', 'ownerread|ownerwrite')
        path = os.path.join(self.dir, '..', 'secret.bin')
        with open(path, 'wb') as f:
            f.write(secret)
        self.tool('tpm2_nvwrite', '0x1500016', '-C', 'o', '-i', path)
        os.remove(path)

    def nv_secret(self, size):
        env = dict(os.environ)
        env['TPM2TOOLS_TCTI'] = 'swtpm:path=' + self.data
        p = subprocess.Popen(['tpm2_nvread', '0x1500016', '-C', 'o', '-s',
                              str(size)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        out, err = p.communicate()
        if p.returncode != 0:
            raise AssertionError('tpm2_nvread: %s' % err.decode())
        return out

    def permanent_blob(self):
        """The permanent state blob, pulled over the control channel."""
        path = os.path.join(os.path.dirname(self.dir),
                            os.path.basename(self.dir) + '.perm')
        run(['swtpm_ioctl', '--unix', self.ctrl, '--save', 'permanent', path])
        with open(path, 'rb') as f:
            data = f.read()
        os.remove(path)
        return data


# ---- one host's xend: xendhost.py in its own process ---------------------------

VTPM_UUID = '7e57ab1e-0000-4000-8000-00000000c0de'
DOM_UUID = 'd0d0d0d0-1111-4222-8333-444455556666'
SECRET = b'xen-mode-nv-secret'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class XenHost(Host):
    """A host: its real xenstored, key directory, vTPM state root, and the
    patched stand-in xend run as xendhost.py processes."""

    def __init__(self, workdir, name, tree):
        Host.__init__(self, workdir, name)
        self.tree = tree
        self.xs = Xenstored(os.path.join(self.dir, 'xs'))
        self.state = os.path.join(self.dir, 'state')
        self.run = os.path.join(self.dir, 'run')
        self.port = free_port()
        # the host has switched its vTPMs to swtpm: vtpm-swtpm installed as
        # in a Xen install, with this host's folder as /etc/xen, and its
        # settings file (the switch) there
        self.etc = os.path.join(self.dir, 'etc')
        self.scripts = os.path.join(self.etc, 'scripts')
        self.conf = os.path.join(self.etc, 'vtpm-swtpm.conf')
        self.settings()
        self.domstate = '5:suspended,9:paused,10:paused'
        self.config = {}
        self.n = 0

    def settings(self, **more):
        """vtpm-swtpm's settings file: this host's roots, and more."""
        kv = {'VTPM_STATE_ROOT': self.state, 'VTPM_RUN_ROOT': self.run,
              'VTPM_EK_CERTS': 'no', 'VTPM_BACKEND': 'no'}
        if os.access(BACKEND_PROGRAM, os.X_OK):
            kv['VTPM_BACKEND'] = BACKEND_PROGRAM
        kv.update(more)
        run([PRIVATE_INSTALL, self.etc] + ['%s=%s' % i for i in kv.items()])

    def env(self):
        env = self.xs.env()
        env.update({'XEN_STANDIN_HOSTS': 'hosta=127.0.0.1,hostb=127.0.0.1',
                    'VTPM_HELPER_PRELOAD': DOMSTATE_SHIM,
                    'VTPM_TEST_DOMSTATE': self.domstate,
                    'VTPM_MIGRATE_REAL': helper_path(),
                    'XEN_STANDIN_SCRIPTS': self.scripts})
        return env

    def options(self, **kw):
        opts = {'vtpm-migration': 'yes',
                'vtpm-migration-key-dir': self.key_dir,
                'vtpm-migration-helper': TRACE_HELPER,
                'vtpm-migration-timeout': '10'}
        opts.update(self.config)
        opts.update(kw)
        return opts

    def start(self, action, conf, env=None):
        self.n += 1
        trace = os.path.join(self.dir, 'trace-%d-%s' % (self.n, action))
        conf = dict(conf, workdir=self.dir)
        conf.setdefault('switch', self.conf)
        conf.setdefault('options', self.options())
        path = trace + '.json'
        with open(path, 'w') as f:
            json.dump(conf, f)
        env = dict(env or self.env())
        env['VTPM_HARNESS_TRACE'] = trace
        proc = subprocess.Popen([XEND_PYTHON, XENDHOST, action, '--tree',
                                 self.tree, '--config', path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        proc.trace = trace
        return proc

    def act(self, action, conf, env=None):
        """Run one xm command's worth of xend; its JSON result."""
        proc = self.start(action, conf, env)
        out, err = proc.communicate(timeout=90)
        lines = out.decode().strip().splitlines()
        if not lines:
            raise AssertionError('xendhost %s gave no result:\n%s'
                                 % (action, err.decode(errors='replace')))
        res = json.loads(lines[-1])
        res['log'] = err.decode(errors='replace')
        res['trace'] = read_trace(proc.trace)
        return res

    def serve(self, count=1):
        """The relocation server, until it answered count connections."""
        proc = self.start('serve', {'port': self.port, 'count': count})
        if proc.stdout.readline().strip() != b'listening':
            raise AssertionError('relocation server did not start: %s'
                                 % proc.stderr.read().decode())
        return proc

    def create(self, domid=5, plant=True):
        """xm create: the vTPM started by the hotplug script."""
        res = self.act('create', self.domain(domid))
        if not res['ok']:
            raise AssertionError(res['error'] + res['log'])
        tpm = self.instance(domid)
        if plant:
            tpm.plant(SECRET)
        return tpm

    def domain(self, domid, **kw):
        conf = {'domid': domid, 'name': 'guest', 'domain_uuid': DOM_UUID,
                'vtpm': VTPM_UUID}
        conf.update(kw)
        return conf

    def instance(self, domid):
        link = os.path.join(self.run, '%d.0' % domid)
        return Swtpm(os.readlink(link)) if os.path.islink(link) else None

    def swtpms(self):
        """Every swtpm of this host's state root still running."""
        found = []
        for root, dirs, files in os.walk(self.state):
            if 'pid' in files and Swtpm(root).alive():
                found.append(root)
        return found

    def stop(self):
        for root, dirs, files in os.walk(self.state):
            if 'backend.pid' in files:
                try:
                    with open(os.path.join(root, 'backend.pid')) as f:
                        os.kill(int(f.read().strip()), signal.SIGTERM)
                except (OSError, ValueError):
                    pass
        for root in self.swtpms():
            Swtpm(root).stop()
        self.xs.stop()


def served(proc, timeout=30):
    """The relocation server's results; one that still waits is stopped."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    res = [json.loads(l) for l in out.decode().splitlines() if l.startswith('{')]
    for r in res:
        r['log'] = err.decode(errors='replace')
    return res


def read_trace(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


def workdir():
    return tempfile.mkdtemp(prefix='vtpm-xend-')


class PatchedTreeTest(unittest.TestCase):
    """Tests that run the patched stand-in xend: one work folder and one
    patched tree per class, removed after it."""

    @classmethod
    def setUpClass(cls):
        cls.base = workdir()
        cls.tree = patched_tree(cls.base)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)
