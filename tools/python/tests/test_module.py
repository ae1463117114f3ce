"""The module on its own: destination names, syntax for xend's Python."""

import ast
import logging
import os
import sys
import unittest

import harness

MODULE = os.path.join(harness.PYTHON_DIR, 'xen', 'xend', 'server',
                      'vtpm_migration.py')


def load_module():
    """Import the module file with the stand-in xen package around it."""
    import importlib.util
    sys.path.insert(0, os.path.join(harness.STANDIN_TREE, 'tools', 'python'))
    spec = importlib.util.spec_from_file_location('vtpm_migration', MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vm = load_module()
vm.log.addHandler(logging.NullHandler())
vm.log.propagate = False


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
