"""The module on its own, in the Python that runs it (2.6-2.7 in xend; 3.x
where there is no 2.7): destination names, how it runs vtpm_migrate
(bounded waits, stderr drained, the whole reason, found as xend finds its
programs), and what it must not carry (environment overrides, module-level
state, more than 400 lines)."""

import ast
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
STANDIN = os.path.join(PROJECT, 'tools', 'apply', 'tests', 'xen-tree',
                       'tools', 'python')
MODULE = os.path.join(PROJECT, 'tools', 'python', 'xen', 'xend', 'server',
                      'vtpm_migration.py')

sys.path.insert(0, STANDIN)
sys.dont_write_bytecode = True
if sys.version_info[0] < 3:
    import imp
    vm = imp.load_source('vtpm_migration', MODULE)
else:
    import importlib.util
    _spec = importlib.util.spec_from_file_location('vtpm_migration', MODULE)
    vm = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(vm)
vm.log.addHandler(logging.NullHandler() if hasattr(logging, 'NullHandler')
                  else logging.StreamHandler(open(os.devnull, 'w')))
vm.log.propagate = False


def within(seconds, fn):
    """fn() on a thread: its exception (or None) if it ends in time."""
    box = []

    def run():
        try:
            fn()
            box.append(None)
        except Exception:
            box.append(sys.exc_info()[1])
    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    t.join(seconds)
    if t.is_alive() if hasattr(t, 'is_alive') else t.isAlive():
        raise AssertionError('still waiting after %d s' % seconds)
    return box[0]


def zombie(pid):
    f = open('/proc/%d/stat' % pid)
    state = f.read().rsplit(')', 1)[1].split()[0]
    f.close()
    return state == 'Z'


class PeerNameTest(unittest.TestCase):

    def test_save_file_is_sealed_to_this_host(self):
        self.assertEqual(vm.peer_name('/var/lib/xen/save/guest', False),
                         'self')

    def test_names_that_really_are_this_host(self):
        for name in ('localhost', '127.0.0.1', '127.0.0.2', '::1'):
            self.assertEqual(vm.peer_name(name, True), 'self', name)

    def test_a_name_that_merely_starts_with_127_is_another_host(self):
        self.assertEqual(vm.peer_name('127.evil.example', True),
                         '127.evil.example')

    def test_remote_destination_is_its_key_name(self):
        self.assertEqual(vm.peer_name('hostb', True), 'hostb')


class HelperTest(unittest.TestCase):
    """vtpm_migrate as xend runs it, with stand-in programs in its place."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='vtpm-module-')
        vm.xoptions.config = {'vtpm-migration-timeout': '2'}

    def tearDown(self):
        vm.xoptions.config = {}
        shutil.rmtree(self.dir)

    def program(self, body, name='vtpm_migrate'):
        path = os.path.join(self.dir, name)
        f = open(path, 'w')
        f.write('#!/bin/sh\n' + body)
        f.close()
        os.chmod(path, 493)
        vm.xoptions.config['vtpm-migration-helper'] = path
        return path

    def test_a_wait_for_a_word_ends_at_the_timeout_and_kills_the_helper(self):
        self.program('echo ready\nexec sleep 60\n')
        vtpm = vm._Vtpm(Dom())
        vm._stage(vtpm, ['send'], 0)
        pid = vtpm.helper.child.pid
        started = time.time()
        e = within(10, lambda: vm.save_suspended(vtpm))
        self.assertTrue(isinstance(e, vm.VtpmMigrationError), e)
        self.assertLess(time.time() - started, 5)
        self.assertIn('no answer within 2 s', str(e))
        self.assertRaises(OSError, os.kill, pid, 0)    # killed and reaped

    def test_the_staged_helper_gets_the_timeout_too(self):
        self.program('echo "$@" > %s/argv\necho ready\n' % self.dir)
        vm._stage(vm._Vtpm(Dom()), ['recv'], 0)
        f = open(os.path.join(self.dir, 'argv'))
        argv = f.read().split()
        f.close()
        self.assertEqual(argv[argv.index('--timeout') + 1], '2')

    def test_much_on_stderr_blocks_neither_the_helper_nor_xend(self):
        # more than a pipe holds, before the helper ends
        self.program('head -c 300000 /dev/zero | tr "\\0" x >&2\n'
                     'echo >&2\nexit 1\n')
        e = within(10, lambda: vm._run(['send']))
        self.assertTrue(isinstance(e, vm.VtpmMigrationError), e)
        self.assertEqual(str(e), 'x' * 300000)

    def test_xm_and_the_log_get_the_helper_s_whole_line(self):
        line = ('vtpm_migrate: recv: record kept in /var/lib/xen/'
                'vtpm-migration/refused/' + 'a' * 300 + '.vtpmrec; load it '
                'with: vtpm_migrate recv --domid 7 < that file')
        self.program('echo "%s" >&2\nexit 1\n' % line)
        e = within(10, lambda: vm._run(['recv']))
        self.assertEqual(str(e), line)

    def test_a_helper_xend_reaped_meanwhile_still_gives_its_reason(self):
        # xend's xPopen3 reaps every ended child when it starts another
        self.program('echo "vtpm_migrate: send: the reason" >&2\nexit 1\n')
        first = vm._Helper(vm._argv(['send']))
        deadline = time.time() + 10
        while time.time() < deadline and not zombie(first.child.pid):
            time.sleep(0.05)
        vm._Helper(vm._argv(['peers']))
        self.assertTrue(first.child.sts >= 0)     # reaped by xend already
        e = within(10, first.finish)
        self.assertTrue(isinstance(e, vm.VtpmMigrationError), repr(e))
        self.assertEqual(str(e), 'vtpm_migrate: send: the reason')

    def test_a_helper_killed_says_so(self):
        self.program('kill -9 $$\n')
        e = within(10, lambda: vm._run(['send']))
        self.assertEqual(str(e), 'vtpm_migrate send: killed by signal 9')

    def test_the_helper_is_found_where_xend_finds_xc_save(self):
        self.program('echo "found $1"\n')
        del vm.xoptions.config['vtpm-migration-helper']
        vm.auxbin.SEARCHDIRS.insert(0, self.dir)
        try:
            self.assertEqual(vm._run(['peers']).strip(), 'found peers')
        finally:
            vm.auxbin.SEARCHDIRS.remove(self.dir)
        # the option still wins
        other = self.program('echo "option $1"\n', 'other')
        self.assertEqual(vm._run(['peers']).strip(), 'option peers')
        self.assertTrue(other)


class Dom(object):
    """What the module reads of a XendDomainInfo."""
    info = {'uuid': 'd0d0d0d0-1111-4222-8333-444455556666'}

    def getDomid(self):
        return 5

    def getName(self):
        return 'guest'


class ShapeTest(unittest.TestCase):
    """What xend's maintainers asked of the module's shape."""

    def setUp(self):
        f = open(MODULE)
        self.text = f.read()
        f.close()
        self.tree = ast.parse(self.text)

    def test_at_most_400_lines(self):
        self.assertLessEqual(len(self.text.splitlines()), 400)

    def test_no_environment_overrides(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                self.assertNotIn(node.attr, ('environ', 'getenv'),
                                 'line %d' % node.lineno)

    def test_no_module_level_state(self):
        """State passes as arguments; what may not is one thread-local."""
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                self.assertFalse(isinstance(node.value, (ast.Dict, ast.List,
                                                         ast.Set)),
                                 'line %d' % node.lineno)
                if isinstance(node.value, ast.Call) and isinstance(
                        node.value.func, ast.Name):
                    self.assertNotIn(node.value.func.id,
                                     ('dict', 'set', 'list'))
        self.assertEqual(self.text.count('threading.local()'), 1)

    def test_no_fixed_helper_path(self):
        self.assertNotIn('/usr/sbin', self.text)


class Python2SyntaxTest(unittest.TestCase):
    """xend runs Python 2.6+: keep the module to syntax both accept (under
    2.7 its import above proved it; under 3 this looks for what 2 lacks)."""

    def test_no_python3_only_syntax(self):
        f = open(MODULE)
        tree = ast.parse(f.read())
        f.close()
        banned = [(getattr(ast, kind, None), what) for kind, what in (
            ('JoinedStr', 'f-string'), ('Nonlocal', 'nonlocal'),
            ('YieldFrom', 'yield from'), ('AsyncFunctionDef', 'async'),
            ('Await', 'await'), ('AnnAssign', 'annotation'),
            ('Starred', 'starred expression'), ('Set', 'set literal'),
            ('SetComp', 'set comprehension'),
            ('DictComp', 'dict comprehension'))]
        for node in ast.walk(tree):
            for kind, what in banned:
                if kind is not None:
                    self.assertFalse(isinstance(node, kind), '%s at line %d'
                                     % (what, getattr(node, 'lineno', 0)))
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                self.assertEqual(getattr(node.args, 'kwonlyargs', []), [],
                                 'keyword-only argument')
                if isinstance(node, ast.FunctionDef):
                    self.assertEqual(getattr(node, 'returns', None), None,
                                     'annotation')
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
