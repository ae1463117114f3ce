"""Xen mode end to end: xend names the vTPM by domain id.

Two hosts, each with its own real xenstored (under the hypervisor stand-in),
its own key directory and state root.  The vtpm-swtpm hotplug script starts
the instances as udev would; the patched XendCheckpoint runs the module with
no instance given, so vtpm_migrate gets --domid and finds the vTPM in
xenstore; libxenctrl's answers come from the domain-state stand-in.
"""

import os
import subprocess
import tempfile
import unittest

import harness

SKIP = harness.missing_tools() or harness.missing_xen_tools()
VTPM_UUID = '7e57ab1e-0000-4000-8000-00000000c0de'
DOM_UUID = 'd0d0d0d0-1111-4222-8333-444455556666'
SECRET = b'xen-mode-nv-secret'


@unittest.skipIf(SKIP, SKIP)
class XenModeTest(harness.PatchedTreeTest):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='x', dir=self.base)
        self.hosts = {}
        for name in ('hosta', 'hostb'):
            host = harness.Host(self.dir, name)
            host.xs = harness.Xenstored(os.path.join(host.dir, 'xs'))
            host.state = os.path.join(host.dir, 'state')
            host.run = os.path.join(host.dir, 'run')
            self.hosts[name] = host
        self.a, self.b = self.hosts['hosta'], self.hosts['hostb']
        self.a.trust(self.b)
        self.b.trust(self.a)
        self.n = 0

    def tearDown(self):
        for host in self.hosts.values():
            for root, dirs, files in os.walk(host.state):
                if 'pid' in files:
                    harness.Swtpm(root).stop()
            host.xs.stop()

    def env(self, host):
        env = host.xs.env()
        env.update({'VTPM_STATE_ROOT': host.state, 'VTPM_RUN_ROOT': host.run,
                    'VTPM_SWTPM_CONF': '/nonexistent', 'VTPM_EK_CERTS': 'no',
                    'VTPM_BACKEND': 'no',  # no guest here; tested in test-vtpm-swtpm.sh
                    'VTPM_HELPER_PRELOAD': harness.DOMSTATE_SHIM,
                    'VTPM_TEST_DOMSTATE': '5:suspended,9:paused'})
        return env

    def instance(self, host, domid):
        link = os.path.join(host.run, '%d.0' % domid)
        return harness.Swtpm(os.readlink(link)) if os.path.islink(link) \
            else None

    def start_source(self):
        """Domain 5 on host A, its vTPM started by the hotplug script."""
        base = '/local/domain/0/backend/vtpm/5/0'
        self.a.xs.write(base + '/uuid', VTPM_UUID, base + '/resume', 'False',
                        base + '/frontend-id', '5',
                        '/local/domain/5/vm', '/vm/' + DOM_UUID)
        env = self.env(self.a)
        env['XENBUS_PATH'] = 'backend/vtpm/5/0'
        harness.run([harness.HOTPLUG, 'add'], env=env)
        tpm = self.instance(self.a, 5)
        tpm.plant(SECRET)
        return tpm

    def conf(self, host, domid, **kw):
        conf = {'options': host.options(), 'domid': domid, 'name': 'guest',
                'domain_uuid': DOM_UUID, 'workdir': self.dir, 'xen': True,
                'vtpm': {'uuid': VTPM_UUID}}
        conf.update(kw)
        return conf

    def side(self, host, action, fd, conf):
        self.n += 1
        trace = os.path.join(self.dir, 'trace-%d-%s' % (self.n, action))
        side = harness.Side(self.tree, action, fd, conf, trace, [],
                            env=self.env(host))
        side.trace = trace
        return side

    def migrate(self, src_conf, dst_conf):
        snd, rcv = harness.tcp_pair()
        dst = self.side(self.b, 'restore', rcv.fileno(), dst_conf)
        src = self.side(self.a, 'migrate', snd.fileno(), src_conf)
        snd.close()
        rcv.close()
        s, d = src.result(), dst.result()
        s['trace'] = harness.read_trace(src.trace)
        d['trace'] = harness.read_trace(dst.trace)
        return s, d

    def test_live_migration_by_domain_id(self):
        src = self.start_source()
        pcr, perm = src.pcr16(), src.permanent_blob()
        s, d = self.migrate(self.conf(self.a, 5, dst='hostb'),
                            self.conf(self.b, 9))
        self.assertTrue(s['ok'], str(s['error']) + s['log'])
        self.assertTrue(d['ok'], str(d['error']) + d['log'])
        self.assertEqual(s['trace'][0][-4:], ['--domid', '5', '--fd',
                                              s['trace'][0][-1]])
        self.assertEqual(s['trace'][1], ['finish', '--domid', '5'])
        self.assertEqual(d['trace'][0][-4:-2], ['--domid', '9'])
        dst = self.instance(self.b, 9)
        self.assertTrue(dst.alive())
        self.assertEqual(dst.pcr16(), pcr)
        self.assertEqual(dst.nv_secret(len(SECRET)), SECRET)
        self.assertEqual(dst.permanent_blob(), perm)
        base = '/local/domain/0/backend/vtpm/9/0'
        self.assertEqual(self.b.xs.read(base + '/hotplug-status'),
                         'connected')
        self.assertEqual(self.b.xs.read(base + '/instance'), '0')
        # source: finished, then its hotplug remove deleted the directory
        self.assertFalse(src.alive())
        self.assertFalse(os.path.exists(src.dir))

    def test_refused_record_leaves_destination_without_tpm(self):
        self.start_source()
        os.remove(os.path.join(self.b.key_dir, 'peers', 'hosta.pub'))
        s, d = self.migrate(self.conf(self.a, 5, dst='hostb'),
                            self.conf(self.b, 9))
        self.assertFalse(d['ok'])
        self.assertIn('vTPM receive failed', d['error'])
        self.assertIsNone(self.instance(self.b, 9))
        base = '/local/domain/0/backend/vtpm/9/0'
        self.assertNotEqual(self.b.xs.read(base + '/hotplug-status'),
                            'connected')
        leftovers = []
        for root, dirs, files in os.walk(self.b.state):
            leftovers += [f for f in files if f.startswith('tpm')]
        self.assertEqual(leftovers, [])

    def test_send_refused_for_running_domain_recovers_source(self):
        src = self.start_source()
        pcr = src.pcr16()
        env_conf = self.conf(self.a, 5, dst='hostb')
        snd, rcv = harness.tcp_pair()
        env = self.env(self.a)
        env['VTPM_TEST_DOMSTATE'] = '5:running'
        self.n += 1
        trace = os.path.join(self.dir, 'trace-running')
        side = harness.Side(self.tree, 'migrate', snd.fileno(), env_conf,
                            trace, [], env=env)
        snd.close()
        while rcv.recv(65536):      # a destination that reads all it gets
            pass
        rcv.close()
        res = side.result()
        self.assertFalse(res['ok'])
        self.assertIn('is running', res['error'])
        self.assertEqual([t[0] for t in harness.read_trace(trace)],
                         ['send', 'recover'])
        self.assertTrue(src.alive())
        self.assertEqual(src.pcr16(), pcr)


if __name__ == '__main__':
    unittest.main()
