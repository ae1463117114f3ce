"""The module on its own: settings, names, the helper process, syntax."""

import ast
import logging
import os
import shutil
import socket
import sys
import tempfile
import unittest

import harness

MODULE = os.path.join(harness.PYTHON_DIR, 'xen', 'xend', 'server',
                      'vtpm_migration.py')


def load_module():
    """Import the module file without a xen package around it."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('vtpm_migration', MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vm = load_module()
vm.log.addHandler(logging.NullHandler())
vm.log.propagate = False


class Info(object):
    def __init__(self, devices, hvm=False):
        self.devices = devices
        self.hvm = hvm

    def all_devices_sxpr(self):
        return self.devices

    def is_hvm(self):
        return self.hvm


class Dom(object):
    def __init__(self, devices, domid=5):
        self.info = Info(devices)
        self.domid = domid

    def getDomid(self):
        return self.domid


VTPM = ('vtpm', ['vtpm', ['uuid', '5b2c2a0e-3c1f-4a59-9d55-0a1b2c3d4e5f']])


class FakeHelper(object):
    """A stand-in program for the exit-status rules of run_helper."""

    def __init__(self, body):
        self.dir = tempfile.mkdtemp(prefix='vtpm-fake-')
        self.path = os.path.join(self.dir, 'vtpm_migrate')
        with open(self.path, 'w') as f:
            f.write('#!/bin/sh\n' + body + '\n')
        os.chmod(self.path, 0o755)

    def options(self):
        return vm.Options(enabled=True, helper=self.path)

    def close(self):
        shutil.rmtree(self.dir)


class SettingsTest(unittest.TestCase):

    def test_defaults_refuse_and_forbid_rollback(self):
        opts = vm.Options.from_lookup(lambda name, default: default)
        self.assertFalse(opts.enabled)
        self.assertFalse(opts.allow_rollback)
        self.assertEqual(opts.key_dir, '/var/lib/xen/vtpm-migration')
        self.assertEqual(opts.helper, '/usr/sbin/vtpm_migrate')

    def test_xend_booleans_are_parsed_like_xend(self):
        conf = {'vtpm-migration': 'on', 'vtpm-migration-allow-rollback': 'n',
                'vtpm-migration-key-dir': '/k',
                'vtpm-migration-instance-timeout': '7'}
        opts = vm.Options.from_lookup(lambda n, d: conf.get(n, d))
        self.assertTrue(opts.enabled)
        self.assertFalse(opts.allow_rollback)
        self.assertEqual(opts.key_dir, '/k')
        self.assertEqual(opts.instance_timeout, 7)

    def test_invalid_boolean_is_an_error_naming_the_option(self):
        conf = {'vtpm-migration': 'maybe'}
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            vm.Options.from_lookup(lambda n, d: conf.get(n, d))
        self.assertIn('vtpm-migration maybe', str(cm.exception))

    def test_disabled_refusal_names_the_option(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            vm.check_destination('hostb', True, vm.Options())
        self.assertIn('(vtpm-migration yes)', str(cm.exception))


class PeerNameTest(unittest.TestCase):

    def test_save_file_is_sealed_to_this_host(self):
        self.assertEqual(vm.peer_name('/var/lib/xen/save/guest', False),
                         'self')

    def test_local_destinations_are_this_host(self):
        for dst in ('localhost', '127.0.0.1', '127.1.2.3', '::1',
                    socket.gethostname()):
            self.assertEqual(vm.peer_name(dst, True), 'self', dst)

    def test_remote_destination_is_its_key_name(self):
        self.assertEqual(vm.peer_name('hostb.example.org', True),
                         'hostb.example.org')

    def test_unusable_names_are_refused(self):
        for dst in ('../etc/passwd', '.hidden', 'a b', 'fe80::1', 'x' * 64,
                    'host;rm'):
            with self.assertRaises(vm.VtpmMigrationError):
                vm.peer_name(dst, True)


class DeviceTest(unittest.TestCase):

    def test_xend_names_the_vtpm_by_domain_id(self):
        inst = vm._instance(Dom([VTPM], domid=12), None)
        self.assertEqual(inst.argv, ['--domid', '12'])

    def test_standalone_instance_arguments(self):
        inst = vm.Instance.standalone('/s/data.ctrl', 'U', 'D')
        self.assertEqual(inst.argv, ['--ctrl', '/s/data.ctrl', '--uuid', 'U',
                                     '--domain-uuid', 'D'])

    def test_guest_without_vtpm_runs_no_helper(self):
        fake = FakeHelper('echo ran >&2; exit 1')
        try:
            dom = Dom([('vif', ['vif'])])
            opts = fake.options()
            vm.check_before_save(dom, True, 'hostb', opts=opts)
            vm.save_after_image(99, dom, True, 'hostb', opts=opts)
            vm.restore_after_image(99, dom, opts=opts)
            self.assertTrue(vm.finish_after_success(dom, opts=opts))
            self.assertTrue(vm.recover_after_failure(dom, opts=opts))
        finally:
            fake.close()

    def test_two_vtpms_refused(self):
        with self.assertRaises(vm.VtpmMigrationError):
            vm._check_devices(Dom([VTPM, VTPM]))

    def test_driver_domain_backend_refused(self):
        dev = ('vtpm', ['vtpm', ['uuid', 'U'], ['backend', '3']])
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            vm._check_devices(Dom([dev]))
        self.assertIn('domain 3', str(cm.exception))

    def test_steps_1_to_3_and_save_need_no_check(self):
        self.assertEqual(vm.device_migrate(None, None, True, 'hostb', 2, 'g'),
                         0)
        self.assertEqual(vm.device_migrate(None, None, False, '/f', 0, 'g'),
                         0)
        self.assertEqual(vm.device_recover_migrate(None, None, True, 'h', 1,
                                                   'g'), 0)


class HelperTest(unittest.TestCase):

    def run_fake(self, body, fd=None):
        fake = FakeHelper(body)
        try:
            vm.run_helper(['send', '--to', 'hostb'], fd=fd,
                          opts=fake.options(), what='vTPM send')
        finally:
            fake.close()

    def test_success(self):
        self.run_fake('exit 0')

    def test_failure_carries_the_error_line(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            self.run_fake('echo "vtpm_migrate: send: peer hostb is not '
                          'trusted" >&2; exit 1')
        self.assertEqual(str(cm.exception), 'vTPM send failed: vtpm_migrate: '
                         'send: peer hostb is not trusted')

    def test_usage_error_is_reported_as_such(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            self.run_fake('echo "usage: ..." >&2; exit 2')
        self.assertIn('usage error', str(cm.exception))

    def test_death_by_signal_is_a_failure(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            self.run_fake('kill -9 $$')
        self.assertIn('killed by signal 9', str(cm.exception))

    def test_silent_failure_reports_the_status(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            self.run_fake('exit 1')
        self.assertIn('exit status 1', str(cm.exception))

    def test_missing_helper(self):
        opts = vm.Options(enabled=True, helper='/nonexistent/vtpm_migrate')
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            vm.run_helper(['finish'], opts=opts)
        self.assertIn('cannot run /nonexistent/vtpm_migrate', str(cm.exception))

    def test_control_characters_do_not_reach_the_message(self):
        with self.assertRaises(vm.VtpmMigrationError) as cm:
            self.run_fake(r'printf "bad\033[31m red\n" >&2; exit 1')
        self.assertNotIn('\033', str(cm.exception))

    def test_fd_argument_is_passed_like_xc_save(self):
        r, w = os.pipe()
        try:
            fake = FakeHelper('echo "$@" >&%d' % w)
            try:
                vm.run_helper(['recv', '--domid', '3'], fd=w,
                              opts=fake.options())
            finally:
                fake.close()
            self.assertEqual(os.read(r, 100).decode().strip(),
                             'recv --domid 3 --fd %d' % w)
        finally:
            os.close(r)
            os.close(w)


class DescriptorTest(unittest.TestCase):
    """The child keeps exactly the stream fd, on Python 3 and Python 2 paths."""

    LIST_FDS = [sys.executable, '-c',
                'import os; print(" ".join(sorted(os.listdir("/proc/self/fd"))))']

    def child_fds(self, legacy):
        keep_r, keep = os.pipe()
        leak_r, leak = os.pipe()
        os.set_inheritable(leak, True)      # as an fd opened by Python 2
        saved = vm._PASS_FDS
        vm._PASS_FDS = not legacy
        try:
            child = vm._spawn(self.LIST_FDS, keep)
            out, _ = child.communicate()
        finally:
            vm._PASS_FDS = saved
            for fd in (keep_r, keep, leak_r, leak):
                os.close(fd)
        return set(int(x) for x in out.split()), keep, leak

    def test_pass_fds_path(self):
        fds, keep, leak = self.child_fds(legacy=False)
        self.assertIn(keep, fds)
        self.assertNotIn(leak, fds)

    def test_python2_preexec_path(self):
        fds, keep, leak = self.child_fds(legacy=True)
        self.assertIn(keep, fds)
        self.assertNotIn(leak, fds)

    def test_stream_fd_survives_close_on_exec(self):
        # xend's restore marks the stream close-on-exec after xc_restore
        r, w = os.pipe()
        os.set_inheritable(w, False)
        for legacy in (False, True):
            saved = vm._PASS_FDS
            vm._PASS_FDS = not legacy
            try:
                child = vm._spawn(['sh', '-c', 'echo ok >&%d' % w], w)
                child.communicate()
            finally:
                vm._PASS_FDS = saved
            self.assertEqual(os.read(r, 10), b'ok\n')
        os.close(r)
        os.close(w)


class DeleteStateTest(unittest.TestCase):

    def test_only_uuids_reach_the_script_as_arguments(self):
        tmp = tempfile.mkdtemp(prefix='vtpm-del-')
        try:
            log = os.path.join(tmp, 'log')
            script = os.path.join(tmp, 'vtpm-swtpm')
            with open(script, 'w') as f:
                f.write('#!/bin/sh\nprintf "%%s|" "$@" >> %s\necho >> %s\n'
                        % (log, log))
            os.chmod(script, 0o755)
            vm.destroy_state(['5b2c2a0e-3c1f-4a59-9d55-0a1b2c3d4e5f',
                              'x; touch %s/pwned' % tmp, 'guest-name'],
                             script)
            vm.destroy_state('not-a-list', script)
            with open(log) as f:
                self.assertEqual(f.read(), 'delete|5b2c2a0e-3c1f-4a59-9d55-'
                                 '0a1b2c3d4e5f|\n')
            self.assertFalse(os.path.exists(os.path.join(tmp, 'pwned')))
        finally:
            shutil.rmtree(tmp)


class Python2SyntaxTest(unittest.TestCase):
    """xend runs Python 2.6+: keep the module to syntax both accept."""

    def test_no_python3_only_syntax(self):
        with open(MODULE) as f:
            tree = ast.parse(f.read())
        banned = {ast.JoinedStr: 'f-string', ast.Nonlocal: 'nonlocal',
                  ast.YieldFrom: 'yield from', ast.AsyncFunctionDef: 'async',
                  ast.Await: 'await', ast.AnnAssign: 'annotation',
                  ast.Starred: 'starred expression', ast.Set: 'set literal',
                  ast.SetComp: 'set comprehension',
                  ast.DictComp: 'dict comprehension'}
        for node in ast.walk(tree):
            for kind, what in banned.items():
                self.assertNotIsInstance(node, kind, '%s at line %d' % (
                    what, getattr(node, 'lineno', 0)))
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                self.assertEqual(node.args.kwonlyargs, [],
                                 'keyword-only argument')
                if isinstance(node, ast.FunctionDef):
                    self.assertEqual(node.returns, None, 'annotation')
            if isinstance(node, ast.Attribute) and node.attr in (
                    'run', 'check_output', 'DEVNULL'):
                if isinstance(node.value, ast.Name) and \
                        node.value.id == 'subprocess':
                    self.fail('subprocess.%s is not in Python 2.6'
                              % node.attr)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)\
                    and node.func.id == 'print':
                self.fail('print() at line %d' % node.lineno)


if __name__ == '__main__':
    unittest.main()
