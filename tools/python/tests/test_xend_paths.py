"""xend's paths with the patch, end to end, as real xend takes them.

Each host is a real xenstored (under the hypervisor stand-in), a key
directory, a vTPM state root and the patched stand-in xend (xendhost.py);
the vtpm-swtpm hotplug script starts the vTPMs as udev would; the real
vtpm_migrate runs under them.  Two hosts talk xend's relocation protocol
over TCP on loopback.  What real xend does and the harness does too: a
localhost relocation names the VM /vm/UUID-1, a pvops dom0 sends no
`remove` for vTPM backends, a failed incoming domain runs the delete path,
xm save opens its file before save() runs, Python 2's bare `raise`.
"""

import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import harness
from harness import DOM_UUID, SECRET, VTPM_UUID

SKIP = harness.missing_tools() or harness.missing_xen_tools()
PLAIN_OK = {'vtpm-migration-plain-relocation': 'yes'}


def wait_until(pred, timeout=10):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


class HostsTest(harness.PatchedTreeTest):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='t', dir=self.base)
        self.a = harness.XenHost(self.dir, 'hosta', self.tree)
        self.b = harness.XenHost(self.dir, 'hostb', self.tree)
        self.a.trust(self.b)
        self.b.trust(self.a)
        self.a.config.update(PLAIN_OK)
        self.b.config.update(PLAIN_OK)

    def tearDown(self):
        self.a.stop()
        self.b.stop()

    def migrate(self, src, dst, dst_name, **kw):
        conf = src.domain(5, dst=dst_name, port=dst.port, **kw)
        return src.act('migrate', conf)

    def helper_calls(self, res):
        return [t[0] + (' --check' if '--check' in t else '')
                for t in res['trace']]


@unittest.skipIf(SKIP, SKIP)
class RemoteMigrationTest(HostsTest):

    def test_vtpm_moves_and_source_lets_go_only_after_the_verdict(self):
        src = self.a.create()
        pcr, perm = src.pcr16(), src.permanent_blob()
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb')
        dst_res = harness.served(server)
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertEqual(self.helper_calls(res),
                         ['send --check', 'send', 'finish'])
        self.assertNotIn('resumeDomain', res['calls'])
        dst = self.b.instance(9)
        self.assertTrue(dst.alive(), dst_res)
        self.assertEqual(dst.pcr16(), pcr)
        self.assertEqual(dst.nv_secret(len(SECRET)), SECRET)
        self.assertEqual(dst.permanent_blob(), perm)
        self.assertFalse(src.alive())
        self.assertFalse(src.has_state())
        # the receiver was told the record hostb's vtpm_check answered for,
        # so it accepted that generation before the image was complete
        recv = [t for t in harness.read_trace(server.trace)
                if t[0] == 'recv' and '--staged' in t]
        self.assertEqual(len(recv), 1, recv)
        self.assertEqual(recv[0][recv[0].index('--generation') + 1], '1')
        self.assertIn('--sender', recv[0])

    def test_refusal_known_in_advance_stops_before_the_image(self):
        src = self.a.create()
        pcr = src.pcr16()
        os.remove(os.path.join(self.b.key_dir, 'peers', 'hosta.pub'))
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb')
        dst_res = harness.served(server)
        self.assertFalse(res['ok'])
        self.assertIn('refused by hostb', res['error'])
        self.assertIn('not a trusted peer', res['error'])
        self.assertNotIn('step1', res['calls'])     # not even the signature
        self.assertEqual(dst_res[0]['calls'], [])   # no domain was created
        self.assertTrue(src.alive())
        self.assertEqual(src.pcr16(), pcr)

    def test_refusal_after_the_record_resumes_the_guest_with_its_vtpm(self):
        src = self.a.create()
        pcr, perm = src.pcr16(), src.permanent_blob()
        env = self.b.env()
        env['VTPM_TPM_VERSION'] = '1.2'     # B would run the guest a TPM 1.2
        server = self.b.start('serve', {'port': self.b.port, 'count': 1},
                              env=env)
        self.assertEqual(server.stdout.readline().strip(), b'listening')
        res = self.migrate(self.a, self.b, 'hostb')
        dst_res = harness.served(server)
        self.assertFalse(res['ok'])
        self.assertIn('TPM', res['error'])
        self.assertIn('go on here', res['error'])
        self.assertIn('resumeDomain', res['calls'])
        self.assertNotIn('finish', self.helper_calls(res))
        self.assertTrue(src.alive())
        self.assertEqual(src.pcr16(), pcr)
        self.assertEqual(src.permanent_blob(), perm)
        self.assertIn('destroy', dst_res[0]['calls'])
        refused = os.path.join(self.b.key_dir, 'refused')
        self.assertEqual(len(os.listdir(refused)), 1)
        # the failed incoming domain's delete path deleted no vTPM state,
        # and its waiting vTPM does not outlive it
        self.assertTrue(wait_until(lambda: not self.b.swtpms()),
                        self.b.swtpms())

    def test_lost_verdict_leaves_the_vtpm_stopped_until_overridden(self):
        src = self.a.create()
        pcr = src.pcr16()
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', self.b.port))
        lsock.listen(1)
        proc = self.a.start('migrate', self.a.domain(5, dst='hostb',
                                                     port=self.b.port))
        conn, _ = lsock.accept()
        # a destination that agrees, takes the whole stream and vanishes
        conn.recv(4096)
        conn.sendall(b'(ok (vtpm ok))\n')
        conn.recv(4096)
        conn.sendall(b'(ready receive)\n')
        conn.settimeout(3)
        try:
            while conn.recv(65536):
                pass
        except socket.timeout:
            pass
        conn.close()
        lsock.close()
        out, err = proc.communicate(timeout=60)
        res = harness.json.loads(out.decode().strip().splitlines()[-1])
        self.assertFalse(res['ok'])
        self.assertIn('no verdict', res['error'])
        self.assertFalse(self.vtpm_runs(src))
        self.assertTrue(src.has_state())
        rc, out, err = harness.run(
            [harness.helper_path(), 'recover', '--ctrl', src.ctrl, '--uuid',
             VTPM_UUID], check=False)
        self.assertEqual(rc, 1)
        self.assertIn('--force', err)
        harness.run([harness.helper_path(), 'recover', '--force', '--ctrl',
                     src.ctrl, '--uuid', VTPM_UUID])
        self.assertTrue(self.vtpm_runs(src))
        self.assertEqual(src.pcr16(), pcr)

    def vtpm_runs(self, tpm):
        rc, out, err = harness.run(['swtpm_ioctl', '-e', '--unix', tpm.ctrl],
                                   check=False)
        return rc == 0

    def test_plain_relocation_refused_unless_the_administrator_accepts_it(self):
        src = self.a.create(plant=False)
        self.a.config = {}
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb')
        harness.served(server)
        self.assertFalse(res['ok'])
        self.assertIn('vtpm-migration-plain-relocation', res['error'])
        self.assertNotIn('step1', res['calls'])
        self.assertTrue(src.alive())

    def test_ssl_relocation_needs_no_option(self):
        src = self.a.create()
        pcr = src.pcr16()
        self.a.config = {}
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb', ssl=True)
        harness.served(server)
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertEqual(self.b.instance(9).pcr16(), pcr)
        self.assertFalse(src.alive())

    def test_a_failed_send_shows_its_reason_in_xm(self):
        src = self.a.create(plant=False)
        self.a.domstate = '5:running'     # send refuses a running domain
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb')
        harness.served(server)
        self.assertFalse(res['ok'])
        self.assertIn('is running', res['error'])
        self.assertNotIn('timed out', res['error'])
        self.assertTrue(src.alive())

    def test_step0_refusal_is_logged_by_xend(self):
        self.a.create(plant=False)
        os.remove(os.path.join(self.a.key_dir, 'peers', 'hostb.pub'))
        res = self.migrate(self.a, self.b, 'hostb')
        self.assertFalse(res['ok'])
        self.assertIn('not a trusted peer', res['error'])
        self.assertRegex(res['log'], r'ERROR vTPM of guest: .*not a trusted')

    def test_receiver_gives_up_when_no_record_follows_the_image(self):
        self.b.config['vtpm-migration-timeout'] = '2'
        server = self.b.serve()
        sock = socket.create_connection(('127.0.0.1', self.b.port))
        sock.sendall(b'receive\n')
        sock.recv(80)
        config = ('(domain (name guest) (uuid %s) (device (vtpm (uuid %s))))'
                  % (DOM_UUID, VTPM_UUID)).encode()
        size = 4096
        image = bytes(bytearray((i * 7 + 3) & 0xff for i in range(size)))
        sock.sendall(b'LinuxGuestRecord' + struct.pack('!i', len(config)) +
                     config + b'XIMG' + struct.pack('!I', size) + image)
        started = time.time()
        answer = sock.recv(4096).decode()       # the connection stays open
        self.assertLess(time.time() - started, 30)
        self.assertIn('(err', answer)
        self.assertIn('within', answer)
        sock.close()
        res = harness.served(server)
        self.assertIn('destroy', res[0]['calls'])
        self.assertTrue(wait_until(lambda: not self.b.swtpms()))


@unittest.skipIf(SKIP, SKIP)
class OneHostTest(HostsTest):

    def test_localhost_migration_keeps_the_vtpm(self):
        src = self.a.create()
        pcr, perm = src.pcr16(), src.permanent_blob()
        server = self.a.serve()
        res = self.migrate(self.a, self.a, 'localhost')
        dst_res = harness.served(server)
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertNotIn('error', dst_res[0])
        dst = self.a.instance(9)
        self.assertEqual(self.a.xs.read('/local/domain/9/vm'),
                         '/vm/%s-1' % DOM_UUID)
        self.assertEqual(dst.pcr16(), pcr)
        self.assertEqual(dst.permanent_blob(), perm)
        self.assertFalse(src.alive())
        self.assertFalse(src.has_state())

    def test_binding_uses_xends_domain_uuid_not_the_guests_node(self):
        self.a.create(plant=False)
        self.a.xs.write('/local/domain/5/vm',
                        '/vm/00000000-6666-4666-8666-000000000666')
        path = os.path.join(self.dir, 'guest.save')
        res = self.a.act('save', self.a.domain(5, file=path))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        res = self.a.act('restore', self.a.domain(None, file=path))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertIn('unpause', res['calls'])

    def test_refused_restore_keeps_the_domain_paused_and_the_record(self):
        self.a.create()
        path = os.path.join(self.dir, 'guest.save')
        self.assertTrue(self.a.act('save', self.a.domain(5, file=path))['ok'])
        first = self.a.act('restore', self.a.domain(None, file=path))
        self.assertTrue(first['ok'], str(first['error']) + first['log'])
        second = self.a.act('restore', self.a.domain(None, file=path,
                                                     new_domids=[10]))
        self.assertFalse(second['ok'])
        self.assertIn('kept paused', second['error'])
        self.assertIn('not newer', second['error'])
        self.assertNotIn('destroy', second['calls'])
        self.assertNotIn('unpause', second['calls'])
        refused = os.path.join(self.a.key_dir, 'refused')
        kept = os.listdir(refused)
        self.assertEqual(len(kept), 1)
        self.assertEqual(os.stat(os.path.join(refused, kept[0])).st_mode
                         & 0o777, 0o600)
        # the first restore's vTPM runs on; the waiting one never started
        self.assertTrue(self.a.instance(9).alive())

    def test_refused_save_leaves_an_existing_file_untouched(self):
        self.a.create(plant=False)
        path = os.path.join(self.dir, 'precious')
        with open(path, 'wb') as f:
            f.write(b'keep me')
        res = self.a.act('save', self.a.domain(5, file=path, checkpoint=True))
        self.assertFalse(res['ok'])
        self.assertIn('checkpoint', res['error'])
        with open(path, 'rb') as f:
            self.assertEqual(f.read(), b'keep me')

    def test_failed_send_removes_the_save_file_it_cannot_complete(self):
        src = self.a.create(plant=False)
        self.a.domstate = '5:running'
        path = os.path.join(self.dir, 'guest.save')
        res = self.a.act('save', self.a.domain(5, file=path))
        self.assertFalse(res['ok'])
        self.assertIn('is running', res['error'])
        self.assertFalse(os.path.exists(path))
        self.assertTrue(src.alive())

    def test_a_reboot_starts_the_same_vtpm_again(self):
        src = self.a.create()
        # xm reboot: xend destroys the domain (a pvops dom0 sends no remove
        # event) and creates it again with the same vTPM at once
        res = self.a.act('destroy', self.a.domain(5))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        again = self.a.create(domid=6, plant=False)
        self.assertTrue(again.alive())
        self.assertEqual(again.dir, src.dir)
        self.assertEqual(again.nv_secret(len(SECRET)), SECRET)

    def test_no_swtpm_outlives_its_domain(self):
        src = self.a.create(plant=False)
        res = self.a.act('destroy', self.a.domain(5))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertTrue(wait_until(lambda: not src.alive()))
        self.assertTrue(wait_until(lambda: not os.path.lexists(
            os.path.join(self.a.run, '5.0'))))
        self.assertTrue(src.has_state())

    def test_only_xm_delete_deletes_vtpm_state(self):
        src = self.a.create(plant=False)
        state = src.dir
        self.a.act('destroy', self.a.domain(5, transient=True))
        self.assertTrue(wait_until(lambda: not src.alive()))
        self.assertTrue(os.path.isdir(state))       # not by the destroy path
        res = self.a.act('delete', self.a.domain(5))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertFalse(os.path.exists(state))

    def test_a_host_not_switched_to_swtpm_deletes_through_the_old_script(self):
        src = self.a.create(plant=False)
        scripts = os.path.join(self.dir, 'scripts')
        os.makedirs(scripts)
        called = os.path.join(self.dir, 'vtpm-delete.args')
        with open(os.path.join(scripts, 'vtpm-delete'), 'w') as f:
            f.write('#!/bin/sh\necho "$@" > %s\n' % called)
        os.chmod(os.path.join(scripts, 'vtpm-delete'), 0o755)
        env = self.a.env()
        env.update(VTPM_SWTPM_CONF=os.path.join(self.dir, 'absent.conf'),
                   XEN_STANDIN_SCRIPTS=scripts)
        res = self.a.act('delete', self.a.domain(5), env=env)
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        with open(called) as f:
            self.assertEqual(f.read().split(), [VTPM_UUID])
        self.assertTrue(src.has_state())        # swtpm's state is not touched

    def test_a_checkpoint_keeps_the_vtpm_running_when_rollback_is_allowed(self):
        src = self.a.create()
        self.a.config['vtpm-migration-allow-rollback'] = 'yes'
        path = os.path.join(self.dir, 'guest.chk')
        res = self.a.act('save', self.a.domain(5, file=path, checkpoint=True))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        self.assertIn('resumeDomain', res['calls'])
        self.assertTrue(src.alive())
        self.assertFalse(os.path.exists(os.path.join(src.dir, 'vtpm-left')))


if __name__ == '__main__':
    unittest.main()
