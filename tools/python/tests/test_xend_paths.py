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
        # device step 0 and the question to hostb each check; the staged
        # sender writes; finish once hostb took the record
        self.assertEqual(self.helper_calls(res),
                         ['send --check', 'send --check', 'send', 'finish'])
        self.assertNotIn('resumeDomain', res['calls'])
        dst = self.b.instance(9)
        self.assertTrue(dst.alive(), dst_res)
        self.assertEqual(dst.pcr16(), pcr)
        self.assertEqual(dst.nv_secret(len(SECRET)), SECRET)
        self.assertEqual(dst.permanent_blob(), perm)
        self.assertFalse(src.alive())
        self.assertFalse(src.has_state())
        # the receiver of the domain this connection made was given the
        # announcement hostb's vtpm_check accepted, no more
        trace = harness.read_trace(server.trace)
        check = [t for t in trace if t[0] == 'recv' and '--check' in t]
        recv = [t for t in trace if t[0] == 'recv' and '--staged' in t]
        self.assertEqual(len(check), 1, trace)
        self.assertEqual(len(recv), 1, trace)
        announce = check[0][check[0].index('--announce') + 1]
        self.assertEqual(recv[0][recv[0].index('--announce') + 1], announce)
        for gone in ('--sender', '--generation', '--uuid'):
            self.assertNotIn(gone, check[0] + recv[0])

    def test_refusal_known_in_advance_stops_before_the_image(self):
        src = self.a.create()
        pcr = src.pcr16()
        os.remove(os.path.join(self.b.key_dir, 'peers', 'hosta.pub'))
        server = self.b.serve()
        res = self.migrate(self.a, self.b, 'hostb')
        dst_res = harness.served(server)
        self.assertFalse(res['ok'])
        self.assertNotIn('step1', res['calls'])     # not even the signature
        self.assertEqual(dst_res[0]['calls'], [])   # no domain was created
        self.assertTrue(src.alive())
        self.assertEqual(src.pcr16(), pcr)
        # the relocation client learns only the helper's public reason; the
        # detailed one (which keys hostb trusts) stays in hostb's xend.log
        check = [t for t in harness.read_trace(server.trace)
                 if t[0] == 'recv' and '--check' in t]
        rc, public, detail = harness.run([harness.helper_path()] +
                                         check[0], check=False)
        self.assertEqual(rc, 1)
        self.assertTrue(public.strip() and detail.strip())
        self.assertEqual(res['error'], 'vTPM migration refused by hostb: %s'
                         % public.strip())
        self.assertNotIn(detail.strip(), res['error'])
        self.assertIn(detail.strip(), dst_res[0]['log'])

    def test_vtpm_check_takes_only_a_well_formed_announcement(self):
        server = self.b.serve()
        sock = socket.create_connection(('127.0.0.1', self.b.port))
        sock.sendall(b'(vtpm_check (announce --allow-rollback))\n')
        answer = sock.recv(4096).decode()
        sock.close()
        harness.served(server)
        self.assertIn('(err', answer)
        self.assertIn('no valid announcement', answer)
        self.assertEqual(harness.read_trace(server.trace), [])

    def test_refusal_after_the_record_resumes_the_guest_with_its_vtpm(self):
        src = self.a.create()
        pcr, perm = src.pcr16(), src.permanent_blob()
        self.b.settings(VTPM_TPM_VERSION='1.2')   # B runs its vTPMs as 1.2
        server = self.b.start('serve', {'port': self.b.port, 'count': 1})
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
        # xm and xend.log say the guest resumed without its TPM, and why
        self.assertIn('resumes without its TPM', res['error'])
        self.assertIn('recover --force --domid 5', res['error'])
        self.assertIn('resumes without its TPM', err.decode())
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

    def sender_fails(self, how, linger=0):
        """Migrate while the stand-in xc_save stops or kills the sender;
        the source's xend runs on linger s after, its connection open."""
        env = self.a.env()
        env['XC_STANDIN_SENDER'] = how
        server = self.b.serve()
        started = time.time()
        res = self.a.act('migrate', self.a.domain(5, dst='hostb',
                                                  linger=linger,
                                                  port=self.b.port), env=env)
        res['took'] = time.time() - started - linger
        # the destination did not wait for the source's xend to go away
        res['destination done'] = server.poll() is not None
        return res, harness.served(server)

    def test_a_stopped_sender_is_given_up_within_the_timeout(self):
        src = self.a.create()
        pcr = src.pcr16()
        self.a.config['vtpm-migration-timeout'] = '3'
        res, dst_res = self.sender_fails('stop', linger=10)
        self.assertFalse(res['ok'])
        self.assertIn("send: no answer within 3 s; stopped", res['error'])
        self.assertLess(res['took'], 30)
        # the guest resumes with its TPM; the destination keeps nothing
        self.assertIn('resumeDomain', res['calls'])
        self.assertNotIn('without its TPM', res['error'])
        self.assertEqual(src.pcr16(), pcr)
        self.assertTrue(res['destination done'])
        self.assertIn('destroy', dst_res[0]['calls'])
        self.assertTrue(wait_until(lambda: not self.b.swtpms()))

    def test_a_sender_killed_between_pull_and_write_leaves_the_tpm(self):
        src = self.a.create()
        pcr = src.pcr16()
        res, dst_res = self.sender_fails('kill')
        self.assertFalse(res['ok'])
        self.assertIn('send: killed by signal 9', res['error'])
        # no record byte left: recover is not refused, the TPM answers
        self.assertIn('resumeDomain', res['calls'])
        self.assertNotIn('without its TPM', res['error'])
        self.assertEqual(src.pcr16(), pcr)
        self.assertTrue(wait_until(lambda: not self.b.swtpms()))

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
        # complete but for its vTPM: introduced to xenstored (completeRestore)
        # and its other devices up; nobody waits for the refused vTPM
        self.assertIn('completeRestore', second['calls'])
        self.assertIn('waitForDevices-vif', second['calls'])
        self.assertNotIn('waitForDevices-vtpm', second['calls'])
        refused = os.path.join(self.a.key_dir, 'refused')
        kept = os.listdir(refused)
        self.assertEqual(len(kept), 1)
        self.assertEqual(os.stat(os.path.join(refused, kept[0])).st_mode
                         & 0o777, 0o600)
        # the first restore's vTPM runs on; the waiting one never started
        self.assertTrue(self.a.instance(9).alive())
        self.assertIsNone(self.a.xs.read(
            '/local/domain/0/backend/vtpm/10/0/hotplug-status'))

    def test_a_kept_domain_runs_with_its_tpm_after_the_remedy(self):
        self.a.create()
        path = os.path.join(self.dir, 'guest.save')
        self.assertTrue(self.a.act('save', self.a.domain(5, file=path))['ok'])
        first = self.a.act('restore', self.a.domain(None, file=path))
        self.assertTrue(first['ok'], str(first['error']) + first['log'])
        self.assertTrue(self.a.act('destroy', self.a.domain(9))['ok'])
        self.assertTrue(wait_until(lambda: not self.a.swtpms()))
        # the same file again: a replay, refused; domain 10 kept paused
        kept = self.a.act('restore', self.a.domain(None, file=path,
                                                   new_domids=[10]))
        self.assertIn('kept paused', kept['error'])
        self.assertIn('completeRestore', kept['calls'])
        self.assertIn('--domid 10 --domain-uuid %s' % DOM_UUID,
                      kept['error'])
        # a replay: neither recv's line nor xend's names a load command
        self.assertNotIn("'vtpm_migrate recv", kept['error'])
        self.assertIn("otherwise 'xm destroy 10'", kept['error'])
        refused = os.path.join(self.a.key_dir, 'refused')
        record = os.path.join(refused, os.listdir(refused)[0])
        # the guide's remedy for a replay that is really wanted: the load
        # command with INSTANCE as xm gives it, and --allow-rollback
        with open(record, 'rb') as f:
            rc, out, err = harness.run(
                [harness.helper_path(), 'recv', '-d', self.a.key_dir,
                 '--domid', '10', '--domain-uuid', DOM_UUID,
                 '--allow-rollback'], env=self.remedy_env(), check=False,
                input_data=f.read())
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.a.instance(10).nv_secret(len(SECRET)), SECRET)
        self.assertEqual(self.a.xs.read(
            '/local/domain/0/backend/vtpm/10/0/hotplug-status'), 'connected')

    def remedy_env(self):
        """vtpm_migrate run by hand on host A (domain 10 paused)."""
        env = self.a.env()
        env['LD_PRELOAD'] = harness.DOMSTATE_SHIM
        return env

    def test_an_hvm_guest_s_device_model_goes_before_its_vtpm_record(self):
        src = self.a.create()
        pcr = src.pcr16()
        state = '51454d55' * 300
        path = os.path.join(self.dir, 'guest.save')
        res = self.a.act('save', self.a.domain(5, file=path, hvm=True,
                                               qemu_state=state))
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        with open(path, 'rb') as f:
            data = f.read()
        dm = data.index(b'DeviceModelRecord0002')
        self.assertEqual(struct.unpack('=I', data[dm + 21:dm + 25])[0],
                         len(state) // 2)
        self.assertNotIn(b'QemuDeviceModelRecord', data)
        env = self.a.env()
        env['XC_STANDIN_QEMU_OUT'] = os.path.join(self.dir, 'qemu.out')
        res = self.a.act('restore', self.a.domain(None, file=path, hvm=True),
                         env=env)
        self.assertTrue(res['ok'], str(res['error']) + res['log'])
        with open(env['XC_STANDIN_QEMU_OUT'], 'rb') as f:
            self.assertEqual(f.read(), bytes(bytearray.fromhex(state)))
        self.assertEqual(self.a.instance(9).pcr16(), pcr)

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
