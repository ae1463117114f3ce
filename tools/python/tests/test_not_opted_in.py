"""A host that never opted in, side by side with the unpatched tree.

The patch installed, but the host not switched to swtpm vTPMs (no
vtpm-swtpm.conf: vTPMs live in the old vtpm_manager) and (vtpm-migration
no): every xend path must do what the unpatched tree's xend does.  Each test
runs one xm command's worth of xend (xendhost.py) on the unpatched stand-in
tree and on the patched one, each on a host of its own, and compares what
xm sees, what xend did to the domain, the stream or file written, and the
programs run (external-migration-tool, vtpm-delete).  The one deliberate
difference is xend's `raise ex` in domain_migrate (test_a_failing_...).
"""

import os
import shutil
import tempfile
import unittest

import harness
from harness import VTPM_UUID

SKIP = harness.missing_xen_tools() or (
    not os.access(harness.helper_path(), os.X_OK) and 'no vtpm_migrate')
QEMU_STATE = '51454d55' * 64


def script(path, body):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + body)
    os.chmod(path, 0o755)


@unittest.skipIf(SKIP, SKIP)
class NotOptedInTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.base = harness.workdir()
        cls.trees = {'pristine': os.path.join(cls.base, 'pristine'),
                     'patched': harness.patched_tree(cls.base)}
        shutil.copytree(harness.STANDIN_TREE, cls.trees['pristine'],
                        symlinks=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='t', dir=self.base)
        self.hosts = []

    def tearDown(self):
        for host in self.hosts:
            host.stop()

    def host(self, kind, name):
        """A host of that tree, not switched (its vtpm-swtpm.conf absent),
        whose scripts record how they were run."""
        host = harness.XenHost(os.path.join(self.dir, kind), name,
                               self.trees[kind])
        os.remove(host.conf)
        host.ran = os.path.join(host.dir, 'ran')
        script(os.path.join(host.scripts, 'vtpm-delete'),
               'echo "vtpm-delete $*" >> %s\n' % host.ran)
        host.tool = os.path.join(host.scripts, 'migration-tool')
        host.fail = os.path.join(host.dir, 'tool-fails')
        script(host.tool, 'echo "tool $*" >> %s\n'
               'case "$*" in *-recover) ;; *"-step 2 "*) [ -e %s ] && '
               'echo "Error: no peer" ;; esac\n' % (host.ran, host.fail))
        self.hosts.append(host)
        return host

    def env(self, host):
        env = host.env()
        env['XEN_STANDIN_SCRIPTS'] = host.scripts
        env['XC_STANDIN_QEMU_OUT'] = os.path.join(host.dir, 'qemu.out')
        return env

    def act(self, host, action, options=None, **kw):
        conf = host.domain(kw.pop('domid', 5), old_vtpm=True, **kw)
        conf['options'] = options or {}
        res = host.act(action, conf, env=self.env(host))
        return {'ok': res['ok'], 'error': res['error'],
                'calls': res['calls']}

    def ran(self, host):
        if not os.path.exists(host.ran):
            return []
        with open(host.ran) as f:
            return f.read().splitlines()

    def both(self, fn):
        """fn(kind) on the unpatched and the patched tree: both results."""
        return fn('pristine'), fn('patched')

    def save_restore(self, kind, hvm):
        host = self.host(kind, 'hosta')
        path = os.path.join(host.dir, 'guest.save')
        extra = hvm and {'hvm': True, 'qemu_state': QEMU_STATE} or {}
        save = self.act(host, 'save', file=path, **extra)
        with open(path, 'rb') as f:
            image = f.read()
        restore = self.act(host, 'restore', domid=None, file=path, **extra)
        if hvm:
            with open(os.path.join(host.dir, 'qemu.out'), 'rb') as f:
                extra['restored'] = f.read()
        return save, image, restore, self.ran(host), extra

    def test_save_and_restore_of_a_vtpm_guest(self):
        pristine, patched = self.both(lambda k: self.save_restore(k, False))
        self.assertTrue(pristine[0]['ok'], pristine[0])
        self.assertTrue(pristine[2]['ok'], pristine[2])
        self.assertIn('unpause', pristine[2]['calls'])
        self.assertEqual(pristine, patched)

    def test_save_and_restore_of_an_hvm_vtpm_guest(self):
        pristine, patched = self.both(lambda k: self.save_restore(k, True))
        self.assertTrue(pristine[2]['ok'], pristine[2])
        self.assertIn(b'QemuDeviceModelRecord', pristine[1])
        self.assertEqual(pristine[4]['restored'], bytes(bytearray.fromhex(
            QEMU_STATE)))
        self.assertEqual(pristine, patched)

    def migrate(self, kind, tool=False, fail=False):
        """xm migrate to a second host of the same tree."""
        src, dst = self.host(kind, 'hosta'), self.host(kind, 'hostb')
        conf = {'port': dst.port, 'count': 1, 'old_vtpm': True,
                'options': {}}
        server = dst.start('serve', conf, env=self.env(dst))
        self.assertEqual(server.stdout.readline().strip(), b'listening')
        if fail:
            open(src.fail, 'w').close()
        options = tool and {'external-migration-tool': src.tool} or {}
        res = self.act(src, 'migrate', options, dst='hostb', port=dst.port)
        # a refused source may never connect: its destination waits no more
        served = harness.served(server, timeout=res['ok'] and 30 or 5)
        return res, [r['calls'] for r in served], self.ran(src)

    def test_migration_runs_the_external_migration_tool(self):
        pristine, patched = self.both(lambda kind: self.migrate(kind, True))
        self.assertTrue(pristine[0]['ok'], pristine)
        self.assertEqual(pristine[2], [
            'tool -type vtpm -step %d -host hostb -domname guest' % step
            for step in (1, 2, 3)])
        self.assertEqual(pristine, patched)

    def test_migration_without_a_tool_is_refused(self):
        pristine, patched = self.both(lambda kind: self.migrate(kind))
        self.assertFalse(pristine[0]['ok'])
        self.assertIn("Device of type 'vtpm' refuses migration",
                      pristine[0]['error'])
        self.assertEqual(pristine, patched)

    def test_a_failing_tool_recovers_and_only_the_raise_differs(self):
        pristine, patched = self.both(
            lambda kind: self.migrate(kind, True, True))
        self.assertFalse(pristine[0]['ok'])
        self.assertIn('resumeDomain', pristine[0]['calls'])
        self.assertTrue([l for l in pristine[2] if l.endswith('-recover')])
        # xend's bare `raise` re-raises the timeout of its read of the
        # destination's answer; the patch's `raise ex` the failure itself
        self.assertEqual(pristine[0]['error'], 'timed out')
        self.assertIn('Fatal error in migration step 2', patched[0]['error'])
        pristine[0]['error'] = patched[0]['error'] = None
        self.assertEqual(pristine, patched)

    def test_destroy_and_delete_run_vtpm_delete(self):
        def run(kind):
            host = self.host(kind, 'hosta')
            destroy = self.act(host, 'destroy', transient=True)
            delete = self.act(host, 'delete')
            return destroy, delete, self.ran(host)
        pristine, patched = self.both(run)
        self.assertEqual(pristine[2], ['vtpm-delete %s' % VTPM_UUID] * 2)
        self.assertEqual(pristine, patched)

    def test_vtpm_check_is_an_unknown_operation(self):
        def run(kind):
            host = self.host(kind, 'hostb')
            server = host.start('serve', {'port': host.port, 'count': 1,
                                          'options': {}})
            self.assertEqual(server.stdout.readline().strip(), b'listening')
            sock = harness.socket.create_connection(('127.0.0.1', host.port))
            sock.sendall(b'(vtpm_check (announce 00))\n')
            answer = sock.recv(4096)
            sock.close()
            harness.served(server)
            return answer
        pristine, patched = self.both(run)
        self.assertIn(b'Invalid operation: vtpm_check', pristine)
        self.assertEqual(pristine, patched)


if __name__ == '__main__':
    unittest.main()
