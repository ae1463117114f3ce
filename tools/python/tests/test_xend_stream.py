"""Two hosts, xend's stream order, the real vtpm_migrate and swtpm.

Each test runs the patched stand-in XendCheckpoint on both sides, each side
in its own process with its own key directory and swtpm, over a real TCP
connection, a pipe (xend's SSL relay) or a save file.  State identity is
checked with tpm2-tools (PCR 16, an NV index) and the permanent state blob.
"""

import os
import struct
import tempfile
import unittest

import harness

SKIP = harness.missing_tools()
VTPM_UUID = '5b2c2a0e-3c1f-4a59-9d55-0a1b2c3d4e5f'
DOM_UUID = 'c0ffee00-1234-4567-89ab-cdef01234567'
SECRET = b'planted-nv-secret-7f3a9c'


@unittest.skipIf(SKIP, SKIP)
class XendStreamTest(harness.PatchedTreeTest):

    def setUp(self):
        # short: Unix socket paths are limited to 107 bytes
        self.dir = tempfile.mkdtemp(prefix='t', dir=self.base)
        self.a = harness.Host(self.dir, 'hosta')
        self.b = harness.Host(self.dir, 'hostb')
        self.a.trust(self.b)
        self.b.trust(self.a)
        self.tpms = []
        self.n = 0

    def tearDown(self):
        for tpm in self.tpms:
            tpm.stop()

    # ---- building blocks ------------------------------------------------------

    def swtpm(self, name, tpm2=True):
        tpm = harness.Swtpm(os.path.join(self.dir, name), tpm2)
        self.tpms.append(tpm)
        return tpm

    def source_tpm(self, tpm2=True):
        tpm = self.swtpm('src-tpm', tpm2).start(running=True)
        if tpm2:
            tpm.plant(SECRET)
        return tpm

    def conf(self, host, tpm, domid, **kw):
        conf = {'options': host.options(), 'domid': domid, 'name': 'guest',
                'domain_uuid': DOM_UUID, 'workdir': self.dir,
                'vtpm': {'uuid': VTPM_UUID, 'dir': tpm.dir,
                         'tpm2': tpm.tpm2}}
        conf.update(kw)
        return conf

    def side(self, action, fd, conf):
        self.n += 1
        trace = os.path.join(self.dir, 'trace-%d-%s' % (self.n, action))
        side = harness.Side(self.tree, action, fd, conf, trace, [])
        side.trace = trace
        return side

    def migrate(self, src_conf, dst_conf, transport='tcp'):
        """Source migrate and destination restore, concurrently."""
        if transport == 'tcp':
            snd, rcv = harness.tcp_pair()
            sfd, rfd = snd.fileno(), rcv.fileno()
        else:
            rfd, sfd = os.pipe()
        dst = self.side('restore', rfd, dst_conf)
        src = self.side('migrate', sfd, src_conf)
        if transport == 'tcp':
            snd.close()
            rcv.close()
        else:
            os.close(sfd)
            os.close(rfd)
        s, d = src.result(), dst.result()
        s['trace'] = harness.read_trace(src.trace)
        d['trace'] = harness.read_trace(dst.trace)
        return s, d

    def save(self, conf, path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        side = self.side('save', fd, conf)
        os.close(fd)
        res = side.result()
        res['trace'] = harness.read_trace(side.trace)
        return res

    def restore(self, conf, path):
        fd = os.open(path, os.O_RDONLY)
        side = self.side('restore', fd, conf)
        os.close(fd)
        res = side.result()
        res['trace'] = harness.read_trace(side.trace)
        return res

    def assertOk(self, res):
        self.assertTrue(res['ok'], '%s\n%s' % (res['error'], res['log']))

    def assertMoved(self, src_tpm, dst_tpm, pcr, perm):
        self.assertTrue(dst_tpm.alive(), 'destination vTPM not running')
        self.assertEqual(dst_tpm.pcr16(), pcr)
        self.assertEqual(dst_tpm.nv_secret(len(SECRET)), SECRET)
        self.assertEqual(dst_tpm.permanent_blob(), perm)
        self.assertFalse(src_tpm.alive(), 'source vTPM still running')
        self.assertFalse(src_tpm.has_state(), 'source vTPM state not deleted')

    # ---- migration ---------------------------------------------------------------

    def test_live_migration_over_tcp_moves_the_vtpm(self):
        src_tpm = self.source_tpm()
        pcr, perm = src_tpm.pcr16(), src_tpm.permanent_blob()
        dst_tpm = self.swtpm('dst-tpm')
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                            self.conf(self.b, dst_tpm, 9))
        self.assertOk(s)
        self.assertOk(d)
        self.assertMoved(src_tpm, dst_tpm, pcr, perm)
        # source: send on the stream fd after the image, then finish; never
        # resumed.  Destination: recv before devices are waited for.
        self.assertEqual([t[0] for t in s['trace']], ['send', 'finish'])
        self.assertIn('--fd', s['trace'][0])
        self.assertEqual(s['trace'][0][s['trace'][0].index('--to') + 1],
                         'hostb')
        self.assertNotIn('resumeDomain', s['calls'])
        self.assertEqual(s['calls'][-2:], ['destroy', 'testDeviceComplete'])
        self.assertEqual([t[0] for t in d['trace']], ['recv'])
        self.assertIn('--fd', d['trace'][0])
        self.assertEqual(d['calls'], ['create', 'completeRestore',
                                      'waitForDevices', 'unpause'])

    def test_hvm_migration_over_pipe_puts_vtpm_after_sized_device_model(self):
        src_tpm = self.source_tpm()
        pcr, perm = src_tpm.pcr16(), src_tpm.permanent_blob()
        dst_tpm = self.swtpm('dst-tpm')
        qemu_state = os.urandom(5000)
        qemu_out = os.path.join(self.dir, 'qemu-received')
        os.environ['XC_STANDIN_QEMU_OUT'] = qemu_out
        try:
            s, d = self.migrate(
                self.conf(self.a, src_tpm, 5, dst='hostb', hvm=True,
                          qemu_state=qemu_state.hex()),
                self.conf(self.b, dst_tpm, 9, hvm=True), transport='pipe')
        finally:
            del os.environ['XC_STANDIN_QEMU_OUT']
        self.assertOk(s)
        self.assertOk(d)
        self.assertMoved(src_tpm, dst_tpm, pcr, perm)
        with open(qemu_out, 'rb') as f:
            self.assertEqual(f.read(), qemu_state)

    def test_local_migration_uses_this_hosts_key_and_separate_instances(self):
        src_tpm = self.source_tpm()
        pcr, perm = src_tpm.pcr16(), src_tpm.permanent_blob()
        dst_tpm = self.swtpm('dst-tpm-local')
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='localhost'),
                            self.conf(self.a, dst_tpm, 6))
        self.assertOk(s)
        self.assertOk(d)
        self.assertEqual(s['trace'][0][s['trace'][0].index('--to') + 1],
                         'self')
        self.assertMoved(src_tpm, dst_tpm, pcr, perm)

    def test_tpm12_vtpm_migrates(self):
        src_tpm = self.source_tpm(tpm2=False)
        perm = src_tpm.permanent_blob()
        dst_tpm = self.swtpm('dst-tpm12', tpm2=False)
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                            self.conf(self.b, dst_tpm, 9))
        self.assertOk(s)
        self.assertOk(d)
        self.assertTrue(dst_tpm.alive())
        self.assertEqual(dst_tpm.permanent_blob(), perm)
        self.assertFalse(src_tpm.alive())

    def test_guest_without_vtpm_streams_as_before(self):
        src_tpm = self.swtpm('unused')
        src = self.conf(self.a, src_tpm, 5, dst='hostb', vtpm=None,
                        options={})
        dst = self.conf(self.b, src_tpm, 9, vtpm=None, options={})
        s, d = self.migrate(src, dst)
        self.assertOk(s)
        self.assertOk(d)
        self.assertEqual(s['trace'], [])
        self.assertEqual(d['trace'], [])

    # ---- refusals before any byte ---------------------------------------------

    def test_step0_refuses_untrusted_destination_with_reason(self):
        src_tpm = self.source_tpm()
        snd, rcv = harness.tcp_pair()
        s = self.side('migrate', snd.fileno(),
                      self.conf(self.a, src_tpm, 5, dst='hostc'))
        snd.close()
        res = s.result()
        rcv.settimeout(5)
        self.assertEqual(rcv.recv(100), b'', 'bytes written before refusal')
        rcv.close()
        self.assertFalse(res['ok'])
        self.assertIn("the key of 'hostc' is not trusted", res['error'])
        self.assertEqual(res['calls'], [])
        self.assertTrue(src_tpm.alive())

    def test_disabled_by_default_refuses_migration(self):
        src_tpm = self.source_tpm()
        snd, rcv = harness.tcp_pair()
        s = self.side('migrate', snd.fileno(),
                      self.conf(self.a, src_tpm, 5, dst='hostb', options={}))
        snd.close()
        rcv.close()
        res = s.result()
        self.assertFalse(res['ok'])
        self.assertIn('vTPM migration is disabled on this host',
                      res['error'])
        self.assertTrue(src_tpm.alive())

    def test_save_without_keys_refused_before_the_signature(self):
        src_tpm = self.source_tpm()
        opts = self.a.options()
        opts['vtpm-migration-key-dir'] = os.path.join(self.dir, 'nokeys')
        path = os.path.join(self.dir, 'guest.save')
        res = self.save(self.conf(self.a, src_tpm, 5, dst=path,
                                  options=opts), path)
        self.assertFalse(res['ok'])
        self.assertIn('has no vTPM migration key', res['error'])
        self.assertEqual(os.path.getsize(path), 0)
        self.assertEqual(res['calls'], [])

    def test_checkpoint_save_refused_unless_rollback_allowed(self):
        src_tpm = self.source_tpm()
        path = os.path.join(self.dir, 'guest.chk')
        res = self.save(self.conf(self.a, src_tpm, 5, dst=path,
                                  checkpoint=True), path)
        self.assertFalse(res['ok'])
        self.assertIn('checkpoint', res['error'])
        self.assertEqual(os.path.getsize(path), 0)

    # ---- failures during the stream ---------------------------------------------

    def test_send_failure_raises_its_line_and_recovers_source(self):
        src_tpm = self.source_tpm()
        pcr = src_tpm.pcr16()
        os.chmod(os.path.join(self.a.key_dir, 'host.key'), 0o644)
        dst_tpm = self.swtpm('dst-tpm')
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                            self.conf(self.b, dst_tpm, 9))
        self.assertFalse(s['ok'])
        self.assertIn("vTPM send to 'hostb' failed: ", s['error'])
        self.assertIn('host.key', s['error'])
        self.assertEqual([t[0] for t in s['trace']], ['send', 'recover'])
        self.assertIn('resumeDomain', s['calls'])
        self.assertNotIn('destroy', s['calls'])
        self.assertTrue(src_tpm.alive())
        self.assertEqual(src_tpm.pcr16(), pcr)
        self.assertEqual(src_tpm.nv_secret(len(SECRET)), SECRET)
        # the destination saw the stream end where the record should be
        self.assertFalse(d['ok'])
        self.assertIn('destroy', d['calls'])
        self.assertFalse(dst_tpm.alive())

    def test_image_failure_recovers_source_without_sending(self):
        src_tpm = self.source_tpm()
        pcr = src_tpm.pcr16()
        dst_tpm = self.swtpm('dst-tpm')
        os.environ['XC_STANDIN_FAIL'] = 'save'
        try:
            s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                                self.conf(self.b, dst_tpm, 9))
        finally:
            del os.environ['XC_STANDIN_FAIL']
        self.assertFalse(s['ok'])
        self.assertIn('xc_save', s['error'])
        self.assertEqual([t[0] for t in s['trace']], ['recover'])
        self.assertIn('resumeDomain', s['calls'])
        self.assertTrue(src_tpm.alive())
        self.assertEqual(src_tpm.pcr16(), pcr)
        self.assertFalse(d['ok'])
        self.assertFalse(dst_tpm.alive())
        self.assertFalse(dst_tpm.has_state())

    def test_untrusted_sender_refused_and_destination_left_without_tpm(self):
        src_tpm = self.source_tpm()
        os.remove(os.path.join(self.b.key_dir, 'peers', 'hosta.pub'))
        dst_tpm = self.swtpm('dst-tpm')
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                            self.conf(self.b, dst_tpm, 9))
        # The stream is one-way: the source finished before the refusal.
        self.assertOk(s)
        self.assertFalse(d['ok'])
        self.assertTrue(d['error'].startswith('vTPM receive failed: '),
                        d['error'])
        self.assertEqual(d['calls'], ['create', 'destroy'])
        self.assertFalse(dst_tpm.alive())
        self.assertFalse(dst_tpm.has_state())

    def test_destination_disabled_refuses_the_record(self):
        src_tpm = self.source_tpm()
        dst_tpm = self.swtpm('dst-tpm')
        dst_conf = self.conf(self.b, dst_tpm, 9, options={})
        s, d = self.migrate(self.conf(self.a, src_tpm, 5, dst='hostb'),
                            dst_conf)
        self.assertFalse(d['ok'])
        self.assertIn('vTPM restore refused', d['error'])
        self.assertEqual(d['trace'], [])
        self.assertFalse(dst_tpm.alive())

    def test_restore_without_hotplug_times_out_with_reason(self):
        src_tpm = self.source_tpm()
        path = os.path.join(self.dir, 'guest.save')
        self.assertOk(self.save(self.conf(self.a, src_tpm, 5, dst=path),
                                path))
        dst_tpm = self.swtpm('never-started')
        conf = self.conf(self.a, dst_tpm, 7, no_hotplug=True)
        conf['options']['vtpm-migration-instance-timeout'] = '1'
        res = self.restore(conf, path)
        self.assertFalse(res['ok'])
        self.assertIn('no vTPM instance', res['error'])

    # ---- save and restore ------------------------------------------------------

    def test_save_file_is_sealed_and_restores_once(self):
        src_tpm = self.source_tpm()
        pcr, perm = src_tpm.pcr16(), src_tpm.permanent_blob()
        path = os.path.join(self.dir, 'guest.save')
        res = self.save(self.conf(self.a, src_tpm, 5, dst=path), path)
        self.assertOk(res)
        self.assertEqual(res['trace'][0][res['trace'][0].index('--to') + 1],
                         'self')
        with open(path, 'rb') as f:
            data = f.read()
        self.assertTrue(data.startswith(b'LinuxGuestRecord'))
        self.assertNotIn(SECRET, data)
        self.assertFalse(src_tpm.alive())

        first = self.swtpm('restored-1')
        res = self.restore(self.conf(self.a, first, 7, relocating=False),
                           path)
        self.assertOk(res)
        self.assertMoved(src_tpm, first, pcr, perm)
        first.stop()

        second = self.swtpm('restored-2')
        res = self.restore(self.conf(self.a, second, 8, relocating=False),
                           path)
        self.assertFalse(res['ok'])
        self.assertIn('vTPM receive failed', res['error'])
        self.assertFalse(second.alive())
        self.assertFalse(second.has_state())

    def test_save_file_restores_twice_when_rollback_allowed(self):
        src_tpm = self.source_tpm()
        path = os.path.join(self.dir, 'guest.save')
        self.assertOk(self.save(self.conf(self.a, src_tpm, 5, dst=path),
                                path))
        for n in (1, 2):
            tpm = self.swtpm('restored-%d' % n)
            conf = self.conf(self.a, tpm, 6 + n, relocating=False)
            conf['options'] = self.a.options(allow_rollback=True)
            res = self.restore(conf, path)
            self.assertOk(res)
            self.assertIn('--allow-rollback', res['trace'][0])
            self.assertEqual(tpm.nv_secret(len(SECRET)), SECRET)
            tpm.stop()

    def test_tampered_save_file_refused(self):
        src_tpm = self.source_tpm()
        path = os.path.join(self.dir, 'guest.save')
        self.assertOk(self.save(self.conf(self.a, src_tpm, 5, dst=path),
                                path))
        with open(path, 'r+b') as f:
            f.seek(-20, os.SEEK_END)
            byte = f.read(1)
            f.seek(-20, os.SEEK_END)
            f.write(bytes([byte[0] ^ 1]))
        tpm = self.swtpm('restored')
        res = self.restore(self.conf(self.a, tpm, 7, relocating=False), path)
        self.assertFalse(res['ok'])
        self.assertIn('vTPM receive failed', res['error'])
        self.assertFalse(tpm.alive())
        self.assertFalse(tpm.has_state())

    def test_hvm_save_file_layout(self):
        src_tpm = self.source_tpm()
        qemu_state = b'QEVM' + os.urandom(3000)
        path = os.path.join(self.dir, 'hvm.save')
        res = self.save(self.conf(self.a, src_tpm, 5, dst=path, hvm=True,
                                  qemu_state=qemu_state.hex()), path)
        self.assertOk(res)
        with open(path, 'rb') as f:
            data = f.read()
        # signature, config, image (XIMG + tail), then the sized device
        # model record, then the vTPM record, and nothing else
        size = struct.unpack('!i', data[16:20])[0]
        pos = 20 + size
        self.assertEqual(data[pos:pos + 4], b'XIMG')
        image = struct.unpack('!I', data[pos + 4:pos + 8])[0]
        pos += 8 + image
        self.assertEqual(data[pos:pos + 4], b'HVMT')
        pos += 4
        self.assertEqual(data[pos:pos + 21], b'DeviceModelRecord0002')
        dm = struct.unpack('=I', data[pos + 21:pos + 25])[0]
        self.assertEqual(data[pos + 25:pos + 25 + dm], qemu_state)
        pos += 25 + dm
        self.assertEqual(data[pos:pos + 8], b'XenvTPMr')
        rc, out, err = harness.run([harness.helper_path(), 'inspect'],
                                   input_data=data[pos:])
        self.assertIn(VTPM_UUID, out)
        self.assertIn('complete', out)


if __name__ == '__main__':
    unittest.main()
