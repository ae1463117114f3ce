"""apply-to-xen-tree.py on the stand-in Xen tree (tests/xen-tree).

The stand-in has the files, function names and lines the patch anchors on
(no Xen code).  Ends with the line 'apply: N passed, N failed'.
Set XEN_TREES (and XEN_TREES_REFUSED) to space-separated lists of real Xen
source trees the patch must apply to (must refuse) to check them too; not
part of make check, as no Xen tree ships with this project.

    test_apply.py --readme          rewrite README.md's size table
    test_apply.py --offsets TREE    rewrite xen-4.2.5.stat-offsets from a
                                    pristine Xen 4.2.5 TREE
"""

import ast
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
APPLY = os.path.join(os.path.dirname(HERE), 'apply-to-xen-tree.py')
STANDIN = os.path.join(HERE, 'xen-tree')
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

README = os.path.join(PROJECT, 'README.md')
# What a pristine Xen 4.2.5 tree's diff has more than the stand-in's: see
# standin_stat_as_425().
OFFSETS = os.path.join(HERE, 'xen-4.2.5.stat-offsets')
STAT_BEGIN = '<!-- apply-to-xen-tree.py --stat of Xen 4.2.5 ' \
    '(tools/apply/tests/test_apply.py --readme) -->\n'
STAT_END = '<!-- end of --stat -->\n'

CHECKPOINT = 'tools/python/xen/xend/XendCheckpoint.py'
TPMIF = 'tools/python/xen/xend/server/tpmif.py'


def run(argv, cwd=None):
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    out, err = p.communicate()
    return p.returncode, out, err


def snapshot(tree):
    """Every file's path, mode and content hash: to prove nothing changed."""
    state = {}
    for root, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if d != '.git']
        for name in files:
            path = os.path.join(root, name)
            with open(path, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            state[os.path.relpath(path, tree)] = (os.stat(path).st_mode,
                                                  digest)
    return state


def calls_in(func):
    """Names of the calls in a function body, in source order."""
    found = []
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                base = f.value.id if isinstance(f.value, ast.Name) else '?'
                found.append((node.lineno, node.col_offset,
                              '%s.%s' % (base, f.attr)))
            elif isinstance(f, ast.Name):
                found.append((node.lineno, node.col_offset, f.id))
    return [name for _, _, name in sorted(found)]


def function(tree_ast, name, cls=None):
    body = tree_ast.body
    if cls:
        body = [n for n in body if isinstance(n, ast.ClassDef)
                and n.name == cls][0].body
    return [n for n in body if isinstance(n, ast.FunctionDef)
            and n.name == name][0]


_SCRIPT = []


def script():
    """The apply script as a module (its file name has dashes)."""
    if not _SCRIPT:
        sys.path.insert(0, os.path.dirname(APPLY))
        try:
            _SCRIPT.append(__import__('apply-to-xen-tree'))
        finally:
            sys.path.pop(0)
    return _SCRIPT[0]


def patch_p1(tree, path):
    """patch -p1 < path in tree: (exit status, output)."""
    p = subprocess.Popen(['patch', '-p1', '-s', '-i', path], cwd=tree,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    out = p.communicate()[0]
    return p.returncode, out


def offsets_of(real_rows, standin_rows):
    """{(patch, path): (added, removed)}: the real tree's counts less the
    stand-in's, where they differ."""
    real = dict(((p, f), (a, r)) for p, f, a, r in real_rows)
    standin = dict(((p, f), (a, r)) for p, f, a, r in standin_rows)
    if sorted(real) != sorted(standin):
        raise AssertionError('the stand-in tree and the real one differ in '
                             'the files the patch touches: %s' % sorted(
                                 set(real) ^ set(standin)))
    return dict((k, (real[k][0] - standin[k][0], real[k][1] - standin[k][1]))
                for k in real if real[k] != standin[k])


def read_offsets():
    found = {}
    with open(OFFSETS) as f:
        for line in f:
            if line.strip() and not line.startswith('#'):
                patch, path, added, removed = line.split()
                found[(patch, path)] = (int(added), int(removed))
    return found


def write_offsets(offsets):
    with open(OFFSETS, 'w') as f:
        f.write('# Where the diff of a pristine Xen 4.2.5 tree differs from '
                'the\n# stand-in tree\'s (tests/xen-tree): the lines the 4.2.5 '
                'files have\n# that the stand-in\'s lack, per patch and file, '
                'as added and\n# removed lines.  Written by\n'
                '#   make -C tools/apply offsets XEN_425=PRISTINE_TREE\n'
                '# and checked against such a tree by XEN_TREES=... make '
                'check.\n')
        for (patch, path), (a, r) in sorted(offsets.items()):
            f.write('%s %s %+d %+d\n' % (patch, path, a, r))


def standin_stat_as_425():
    """The --stat table of a pristine Xen 4.2.5 tree, computed without one:
    the stand-in tree's counts (the project's files and the edits, which
    need only the anchors) plus the stored offsets (what the patch removes
    from 4.2.5 files that the stand-in has in short: the 2006 daemon's
    sources, the folder's old Makefile, tpmif.py's bodies)."""
    mod = script()
    offsets = read_offsets()
    rows = []
    for patch, path, a, r in mod.stat_rows(STANDIN):
        da, dr = offsets.pop((patch, path), (0, 0))
        rows.append((patch, path, a + da, r + dr))
    if offsets:
        raise AssertionError('offsets for changes the patch no longer makes: '
                             '%s' % sorted(offsets))
    return mod.format_size('4.2.5', rows)


def readme_block(stat):
    return STAT_BEGIN + ''.join('    ' + line + '\n'
                                for line in stat.splitlines()) + STAT_END


def readme_with(block):
    with open(README) as f:
        text = f.read()
    i, j = text.find(STAT_BEGIN), text.find(STAT_END)
    if i < 0 or j < i:
        raise AssertionError('README.md has no generated size table (%s)'
                             % STAT_BEGIN.strip())
    return text[:i] + block + text[j + len(STAT_END):]


class ApplyTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='vtpm-apply-')
        self.tree = os.path.join(self.tmp, 'xen')
        shutil.copytree(STANDIN, self.tree, symlinks=True)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def apply(self, *extra):
        return run([sys.executable, APPLY] + list(extra) + [self.tree])

    def read(self, rel):
        with open(os.path.join(self.tree, rel)) as f:
            return f.read()

    def edit(self, rel, old, new):
        text = self.read(rel)
        self.assertIn(old, text)
        with open(os.path.join(self.tree, rel), 'w') as f:
            f.write(text.replace(old, new))

    def git(self, *args):
        rc, out, err = run(['git', '-c', 'user.name=t', '-c',
                            'user.email=t@t', '-C', self.tree] + list(args))
        self.assertEqual(rc, 0, err)
        return out

    # ---- the patch ----------------------------------------------------------------

    def test_inserts_each_call_at_its_place_in_save_and_restore(self):
        rc, out, err = self.apply()
        self.assertEqual(rc, 0, err)
        tree = ast.parse(self.read(CHECKPOINT))
        save = calls_in(function(tree, 'save'))
        # the sender gets ready before the first byte, pulls at the suspend
        # (in saveInputHandler), writes after the image and device model
        self.assertEqual(save[:2], ['vtpm_migration.check_before_save',
                                    'write_exact'])
        i = save.index('vtpm_migration.save_suspended')
        self.assertEqual(save[i - 1], 'dominfo.migrateDevices')
        self.assertLess(i, save.index('forkHelper'))
        i = save.index('vtpm_migration.save_after_image')
        self.assertEqual(save[i - 1], 'os.remove')     # the device model's
        self.assertEqual(save[i + 1], 'dominfo.resumeDomain')
        self.assertLess(i, save.index('dominfo.destroy'))
        # the device model record: length-prefixed when a vTPM record
        # follows, else xend's own
        dm = [n for n in ast.walk(function(tree, 'save'))
              if isinstance(n, ast.If) and isinstance(n.test, ast.Name)
              and n.test.id == 'vtpm']
        self.assertEqual(len(dm), 1)
        self.assertIn(b'DeviceModelRecord0002', ast.dump(dm[0].body[0]).encode())
        self.assertIn('QEMU_SIGNATURE', ast.dump(dm[0].orelse[0]))
        # the error to raise comes from the module, before the resume
        handlers = [n for n in ast.walk(function(tree, 'save'))
                    if isinstance(n, ast.ExceptHandler)
                    and 'dominfo.resumeDomain' in calls_in(n)]
        self.assertEqual(len(handlers), 1)
        first = handlers[0].body[1]
        self.assertEqual(calls_in(first),
                         ['vtpm_migration.recover_after_failure'])
        self.assertEqual(first.targets[0].id, 'exn')
        restore = calls_in(function(tree, 'restore'))
        i = restore.index('forkHelper')
        self.assertEqual(restore[i - 1], 'vtpm_migration.restore_before_image')
        self.assertEqual(restore[i + 1], 'vtpm_migration.restore_after_image')
        # a refused record from a file: kept after completeRestore, before
        # the wait for the devices
        i = restore.index('vtpm_migration.keep_paused')
        self.assertEqual(restore[i + 1], 'dominfo.waitForDevices')
        self.assertLess(restore.index('dominfo.completeRestore'), i)
        handlers = [calls_in(n) for n in ast.walk(function(tree, 'restore'))
                    if isinstance(n, ast.ExceptHandler)]
        destroying = [h for h in handlers if 'dominfo.destroy' in h]
        self.assertEqual(destroying[-1][:2], ['vtpm_migration.keep_after_failure',
                                              'dominfo.destroy'])
        # what the error handler passes is bound before its try
        self.assertIn('    vtpm = None\n    try:\n', self.read(CHECKPOINT))
        self.assertIn('from xen.xend.server import vtpm_migration',
                      self.read(CHECKPOINT))

    def test_xend_domain_and_relocation_server_hooks(self):
        rc, out, err = self.apply()
        self.assertEqual(rc, 0, err)
        tree = ast.parse(self.read('tools/python/xen/xend/XendDomain.py'))
        save = calls_in(function(tree, 'domain_save', 'XendDomain'))
        # the refusal comes before the file is opened (and truncated)
        self.assertLess(save.index('vtpm_migration.check'),
                        save.index('os.open'))
        # xm delete deletes the vTPM state once the configuration is gone
        delete = calls_in(function(tree, 'domain_delete', 'XendDomain'))
        self.assertEqual(delete[delete.index('self._domain_delete_by_info')
                                + 1], 'vtpm_migration.delete_state')
        for name, word in (('_domain_migrate', 'receive'),
                           ('_domain_migrate_by_ssl', 'sslreceive')):
            fn = function(tree, name, 'XendDomain')
            calls = calls_in(fn)
            i = calls.index('vtpm_migration.ask_destination')
            self.assertEqual(calls[i + 1], 'sock.send')
            # the re-raise names the save's own exception (Python 2's bare
            # raise would re-raise the timeout of the answer's read)
            raises = [n for n in ast.walk(fn) if isinstance(n, ast.Raise)
                      and isinstance(n.exc, ast.Name)]
            self.assertIn('ex', [n.exc.id for n in raises], name)
            # a vTPM step's error is kept over the destination's answer
            tests = [ast.dump(n.test) for n in ast.walk(fn)
                     if isinstance(n, ast.If) and 'm_dsterr' in ast.dump(n.test)]
            self.assertEqual(len(tests), 1, name)
            self.assertIn('VtpmMigrationError', tests[0], name)
        reloc = ast.parse(self.read('tools/python/xen/xend/server/relocate.py'))
        self.assertEqual(calls_in(function(reloc, 'op_vtpm_check',
                                           'RelocationProtocol')),
                         ['vtpm_migration.op_vtpm_check'])

    def test_device_controller_diverts_only_a_switched_host(self):
        pristine = ast.parse(self.read(TPMIF))
        rc, out, err = self.apply()
        self.assertEqual(rc, 0, err)
        patched = ast.parse(self.read(TPMIF))
        for name, cls, call in (
                ('migrate', 'TPMifController', 'vtpm_migration.check'),
                ('recover_migrate', 'TPMifController', None),
                ('destroy_vtpmstate', None, 'vtpm_migration.destroy_state')):
            old = function(pristine, name, cls).body
            new = function(patched, name, cls).body
            doc = isinstance(old[0], ast.Expr) and 1 or 0
            # docstring, then the switch, then the body as it was
            self.assertEqual([ast.dump(n) for n in new[:doc] + new[doc + 1:]],
                             [ast.dump(n) for n in old], name)
            switch = new[doc]
            self.assertEqual(calls_in(switch.test),
                             ['vtpm_migration.opted_in'], name)
            self.assertEqual(calls_in(switch.body[0]),
                             call and [call] or [], name)
            self.assertEqual(switch.orelse, [], name)

    def test_patched_python_compiles(self):
        self.assertEqual(self.apply()[0], 0)
        for rel in (CHECKPOINT, TPMIF,
                    'tools/python/xen/xend/server/vtpm_migration.py'):
            py_compile.compile(os.path.join(self.tree, rel), doraise=True,
                               cfile=os.path.join(self.tmp, 'x.pyc'))

    def test_git_diff_is_the_patch(self):
        self.git('init', '-q')
        self.git('add', '-A')
        self.git('commit', '-q', '-m', 'stand-in')
        rc, out, err = self.apply()
        self.assertEqual(rc, 0, err)
        status = dict((line[3:], line[:2].strip()) for line in
                      self.git('status', '--porcelain',
                               '--untracked-files=all').splitlines())
        for rel in (CHECKPOINT, TPMIF, 'tools/Makefile',
                    'tools/vtpm_manager/Makefile',
                    'tools/vtpm_manager/migration/Makefile',
                    'tools/hotplug/Linux/Makefile',
                    'tools/hotplug/Linux/xen-backend.rules',
                    'tools/examples/xend-config.sxp'):
            self.assertEqual(status.get(rel), 'M', rel)
        for rel in ('tools/python/xen/xend/server/vtpm_migration.py',
                    'tools/hotplug/Linux/vtpm-swtpm',
                    'tools/vtpm_manager/migration/vtpm_migrate.c',
                    'docs/misc/vtpm-migration.txt',
                    'docs/man/vtpm_migrate.pod.8'):
            self.assertEqual(status.get(rel), '??', rel)
        for old in ('vtpm_migratord.c', 'vtpm_migratorc.c', 'vtpm_migrator.h'):
            self.assertEqual(status.get('tools/vtpm_manager/migration/' + old),
                             'D', old)
        self.assertFalse([p for p in status if '/build' in p or
                          p.endswith('.o')], 'build outputs copied')
        self.assertTrue(os.access(os.path.join(
            self.tree, 'tools/hotplug/Linux/vtpm-swtpm'), os.X_OK))

    def test_build_hooks_rules_and_config(self):
        self.assertEqual(self.apply()[0], 0)
        self.assertIn('SUBDIRS-$(VTPM_MIGRATION) += vtpm_manager/migration',
                      self.read('tools/Makefile'))
        self.assertIn('SUBDIRS\t\t= crypto tcs util manager\n',
                      self.read('tools/vtpm_manager/Makefile'))
        self.assertIn('XEN_SCRIPTS += vtpm-swtpm',
                      self.read('tools/hotplug/Linux/Makefile'))
        rules = self.read('tools/hotplug/Linux/xen-backend.rules')
        self.assertIn('/etc/xen/scripts/vtpm-swtpm $env{ACTION}', rules)
        conf = self.read('tools/examples/xend-config.sxp')
        for opt in ('(vtpm-migration no)', '(vtpm-migration-key-dir',
                    '(vtpm-migration-allow-rollback no)'):
            self.assertIn(opt, conf)
        self.assertIn('include $(XEN_ROOT)/tools/Rules.mk',
                      self.read('tools/vtpm_manager/migration/Makefile'))

    def test_second_run_changes_nothing(self):
        self.assertEqual(self.apply()[0], 0)
        before = snapshot(self.tree)
        rc, out, err = self.apply()
        self.assertEqual(rc, 0, err)
        self.assertIn('already has vTPM migration', out)
        self.assertEqual(snapshot(self.tree), before)

    def test_check_mode_reports_and_changes_nothing(self):
        before = snapshot(self.tree)
        rc, out, err = self.apply('--check')
        self.assertEqual(rc, 0, err)
        self.assertIn('all anchors found', out)
        self.assertIn('edit    ' + CHECKPOINT, out)
        self.assertEqual(snapshot(self.tree), before)

    # ---- refusals ---------------------------------------------------------------

    def assertRefused(self, *expected):
        before = snapshot(self.tree)
        rc, out, err = self.apply()
        self.assertEqual(rc, 1, out + err)
        self.assertIn('nothing changed', err)
        for what in expected:
            self.assertIn(what, err)
        self.assertEqual(snapshot(self.tree), before)
        return err

    def test_refuses_without_restore_anchor(self):
        self.edit(CHECKPOINT, 'forkHelper(cmd, fd, handler.handler, True)',
                  'runHelper(cmd, fd, handler.handler, True)')
        self.assertRefused("%s: restore() has no line 'forkHelper(cmd, fd, "
                           "handler.handler, True)'" % CHECKPOINT)

    def test_refuses_without_save_function(self):
        self.edit(CHECKPOINT, 'def save(', 'def save_domain(')
        self.assertRefused('%s: no function save()' % CHECKPOINT)

    def test_refuses_when_resume_is_not_in_the_error_handler(self):
        text = self.read(CHECKPOINT)
        i = text.index('    except Exception as exn:\n        log.exception'
                       '("Save failed')
        j = text.index('        raise exn\n', i) + len('        raise exn\n')
        self.edit(CHECKPOINT, text[i:j], '')
        self.edit(CHECKPOINT, '    try:\n        dominfo.migrateDevices',
                  '    if True:\n        dominfo.migrateDevices')
        self.assertRefused("save() has no 'dominfo.resumeDomain()' in its "
                           "error handler")

    def test_refuses_without_device_controller_method(self):
        self.edit(TPMIF, 'def recover_migrate(', 'def recover(')
        self.assertRefused('%s: no function TPMifController.recover_migrate()'
                           % TPMIF)

    def test_refuses_old_restorer_reading_device_model_to_eof(self):
        self.edit('tools/libxc/xc_domain_restore.c', 'DeviceModelRecord0002',
                  'OtherRecord')
        self.assertRefused("no 'DeviceModelRecord0002'",
                           'Xen 4.1 or later needed')

    def test_refuses_tree_without_vtpm_manager(self):
        shutil.rmtree(os.path.join(self.tree, 'tools/vtpm_manager'))
        self.assertRefused('tools/vtpm_manager/Makefile: file not found',
                           'tools/vtpm_manager: folder not found')

    def test_names_every_missing_anchor(self):
        self.edit('tools/hotplug/Linux/xen-backend.rules',
                  '/etc/xen/scripts/vtpm $env', '/etc/xen/scripts/tpm $env')
        self.edit('tools/Makefile', 'SUBDIRS-$(VTPM_TOOLS) += vtpm\n', '')
        self.edit('tools/examples/xend-config.sxp',
                  "#(external-migration-tool '')", '')
        self.assertRefused('xen-backend.rules: no vtpm rule',
                           "tools/Makefile: no line 'SUBDIRS-$(VTPM_TOOLS) "
                           "+= vtpm'", 'xend-config.sxp: no line')

    def test_refuses_a_folder_that_is_no_xen_tree(self):
        empty = os.path.join(self.tmp, 'empty')
        os.mkdir(empty)
        rc, out, err = run([sys.executable, APPLY, empty])
        self.assertEqual(rc, 1)
        self.assertIn('XendCheckpoint.py: file not found', err)
        self.assertEqual(os.listdir(empty), [])

    def test_usage(self):
        self.assertEqual(run([sys.executable, APPLY])[0], 2)

    # ---- the folder builds with the tree's own make -C tools ----------------------
    #
    # The stand-in's Config.mk and tools/Rules.mk work as a Xen 4.2 tree's do:
    # subdir-TARGET-% pattern rules that miss a folder with a slash, CFLAGS
    # with the tree's language level and warnings, $(CROSS_COMPILE)gcc.

    MIG = 'tools/vtpm_manager/migration'

    def make(self, *args):
        rc, out, err = run(['make', '-C', os.path.join(self.tree, 'tools')] +
                           list(args))
        return rc, out + err

    def installed(self, dest):
        found = []
        for root, dirs, files in os.walk(dest):
            found += [os.path.relpath(os.path.join(root, f), dest)
                      for f in files]
        return sorted(found)

    def poison_headers(self):
        """Headers that refuse to be found before the tree's own."""
        poison = os.path.join(self.tmp, 'elsewhere')
        os.mkdir(poison)
        for name, mark in (('xenctrl.h', 'XEN_STANDIN_TREE_XENCTRL_H'),
                           ('xenstore.h', 'XEN_STANDIN_TREE_XENSTORE_H')):
            with open(os.path.join(poison, name), 'w') as f:
                f.write('#ifndef %s\n#error "%s found before the tree\'s"\n'
                        '#endif\n#include_next <%s>\n' % (mark, name, name))
        return poison

    def test_tools_make_builds_installs_uninstalls_and_cleans_the_folder(self):
        self.assertEqual(self.apply()[0], 0)
        rc, out = self.make('all')
        self.assertEqual(rc, 0, out)
        self.assertNotIn('warning:', out)
        dest = os.path.join(self.tmp, 'dest')
        rc, out = self.make('install', 'DESTDIR=' + dest)
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.installed(dest),
                         ['usr/sbin/vtpm_backend', 'usr/sbin/vtpm_migrate',
                          'usr/share/man/man8/vtpm_backend.8',
                          'usr/share/man/man8/vtpm_migrate.8'])
        for prog in ('vtpm_migrate', 'vtpm_backend'):
            sbin = os.path.join(dest, 'usr/sbin', prog)
            self.assertEqual(os.stat(sbin).st_mode & 0o777, 0o755)
            rc, out, err = run([sbin, '--help'])
            self.assertEqual(rc, 0, prog + err)
            self.assertIn(prog, out + err)
        rc, out = self.make('uninstall', 'DESTDIR=' + dest)
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.installed(dest), [])
        for target in ('clean', 'distclean'):
            self.assertEqual(self.make('all')[0], 0)
            rc, out = self.make(target)
            self.assertEqual(rc, 0, out)
            self.assertEqual(sorted(n for n in os.listdir(os.path.join(
                self.tree, self.MIG)) if n == 'build' or n.endswith('.d')),
                [], target)

    def test_uninstall_of_a_41_tree_is_in_its_top_makefile(self):
        # Xen 4.1: tools/Makefile has no uninstall; the top-level one has.
        text = self.read('tools/Makefile')
        i = text.index('.PHONY: uninstall')
        j = text.index('.PHONY: clean')
        self.edit('tools/Makefile', text[i:j], '')
        with open(os.path.join(self.tree, 'Makefile'), 'w') as f:
            f.write('XEN_ROOT = $(CURDIR)\ninclude Config.mk\n\n'
                    'uninstall: D=$(DESTDIR)\nuninstall:\n\t'
                    'rm -rf $(D)$(SBINDIR)/xen* $(D)$(SBINDIR)/netfix '
                    '$(D)$(SBINDIR)/xm\n')
        self.assertEqual(self.apply()[0], 0)
        dest = os.path.join(self.tmp, 'dest')
        rc, out = self.make('install', 'DESTDIR=' + dest)
        self.assertEqual(rc, 0, out)
        self.assertIn('usr/sbin/vtpm_migrate', self.installed(dest))
        rc, out, err = run(['make', '-C', self.tree, 'uninstall',
                            'DESTDIR=' + dest])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.installed(dest), [])

    def test_command_line_cflags_keep_the_tree_headers_and_warnings(self):
        self.assertEqual(self.apply()[0], 0)
        poison = self.poison_headers()
        rc, out = self.make('all', 'CFLAGS=-O1 -I' + poison)
        self.assertEqual(rc, 0, out)
        compiles = [l for l in out.splitlines() if ' -c ' in l]
        self.assertTrue(compiles, out)
        for line in compiles:
            self.assertIn('-Werror', line)
            self.assertIn('-Wall', line)
            self.assertLess(line.index('/tools/libxc'), line.index(poison))

    def test_cross_compile_prefix_names_compiler_and_archiver(self):
        self.assertEqual(self.apply()[0], 0)
        bindir = os.path.join(self.tmp, 'cross')
        log = os.path.join(self.tmp, 'cross.log')
        os.mkdir(bindir)
        for tool in ('gcc', 'ar'):
            path = os.path.join(bindir, 'xtest-' + tool)
            with open(path, 'w') as f:
                f.write('#!/bin/sh\necho "%s $*" >>"%s"\nexec %s "$@"\n'
                        % (tool, log, tool))
            os.chmod(path, 0o755)
        rc, out = self.make('all', 'CROSS_COMPILE=%s/xtest-' % bindir)
        self.assertEqual(rc, 0, out)
        with open(log) as f:
            calls = f.read().splitlines()
        self.assertTrue([c for c in calls if c.startswith('gcc ') and
                         c.endswith('vtpm_migrate.c')], calls)
        for prog in ('vtpm_migrate', 'vtpm_backend'):
            self.assertTrue([c for c in calls if c.startswith('gcc ') and
                             '-o build/%s ' % prog in c], calls)
        self.assertTrue([c for c in calls if c.startswith('ar ')], calls)
        self.assertNotIn('\ncc ', '\n' + out)

    def test_parallel_make_keeps_the_jobserver(self):
        self.assertEqual(self.apply()[0], 0)
        rc, out = self.make('-j2', 'all')
        self.assertEqual(rc, 0, out)
        self.assertNotIn('jobserver', out)
        self.assertTrue(os.path.isfile(os.path.join(
            self.tree, self.MIG, 'build/vtpm_migrate')))

    def test_dry_run_descends_into_the_folder(self):
        self.assertEqual(self.apply()[0], 0)
        rc, out = self.make('-n', 'all')
        self.assertEqual(rc, 0, out)
        self.assertIn('vtpm_migrate.c', out)
        self.assertIn('-o build/vtpm_migrate ', out)
        self.assertIn('-o build/vtpm_backend ', out)
        self.assertFalse(os.path.exists(os.path.join(self.tree, self.MIG,
                                                     'build/vtpm_migrate')))

    def test_build_leaves_nothing_untracked(self):
        self.git('init', '-q')
        self.git('add', '-A')
        self.git('commit', '-q', '-m', 'stand-in')
        self.assertEqual(self.apply()[0], 0)
        self.git('add', '-A')
        self.git('commit', '-q', '-m', 'patched')
        self.assertEqual(self.make('all')[0], 0)
        self.assertEqual(self.git('status', '--porcelain',
                                  '--untracked-files=all'), '')
        with open(os.path.join(self.tree, '.hgignore')) as f:
            hg = [l.rstrip('\n') for l in f]
        for path in ('tools/vtpm_manager/migration/build/vtpm_migrate',
                     'tools/vtpm_manager/migration/build/tests/unit/main.o'):
            self.assertTrue([p for p in hg if re.search(p, path)], path)

    def test_in_tree_check_builds_and_runs_the_unit_tests(self):
        self.assertEqual(self.apply()[0], 0)
        env = dict(os.environ, CK_RUN_SUITE='record')
        p = subprocess.Popen(['make', '-C', os.path.join(self.tree, self.MIG),
                              'check'], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True)
        out = p.communicate()[0]
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r'100%: Checks: [1-9]')

    def test_xen_41_tree_builds_with_xs_h(self):
        # Xen 4.1's tools/xenstore has xs.h, no xenstore.h
        os.remove(os.path.join(self.tree, 'tools/xenstore/xenstore.h'))
        with open(os.path.join(self.tree, 'tools/xenstore/xs.h'), 'w') as f:
            f.write('#define XEN_STANDIN_TREE_XENSTORE_H 1\n'
                    '#include_next <xenstore.h>\n')
        self.assertEqual(self.apply()[0], 0)
        rc, out = self.make('all', 'CFLAGS=-O1 -I' + self.poison_headers())
        self.assertEqual(rc, 0, out)
        with open(os.path.join(self.tree, self.MIG,
                               'build/compat/xenstore.h')) as f:
            self.assertEqual(f.read(), '#include <xs.h>\n')

    def test_tree_makefile_takes_the_projects_lists(self):
        self.assertEqual(self.apply()[0], 0)
        sys.path.insert(0, os.path.dirname(APPLY))
        try:
            mod = __import__('apply-to-xen-tree')
        finally:
            sys.path.pop(0)
        with open(os.path.join(PROJECT, self.MIG, 'Makefile')) as f:
            project = f.read()
        tree = self.read(self.MIG + '/Makefile')
        progs = mod.make_list(project, 'PROGS')
        self.assertIn('vtpm_backend', progs)
        for name in ['PROGS', 'LIB_SRCS'] + [p + '_SRCS' for p in progs]:
            words = mod.make_list(project, name, required=False)
            self.assertEqual(mod.make_list(tree, name, required=False),
                             words, name)
        self.assertTrue(mod.make_list(tree, 'vtpm_backend_SRCS'))
        self.assertIn('include $(XEN_ROOT)/tools/Rules.mk', tree)
        for line in tree.splitlines():
            if line.startswith('\t') and 'MAKE' in line:
                self.assertIn('$(MAKE)', line)

    # ---- the patch carries the product only ---------------------------------------

    PROOF = re.compile(r'(^|/)(fuzz|bench|e2e|xen|shim|tools|lib|standin)/'
                       r'|deps\.sh$|demo\.sh$|run-e2e\.sh$|\.mk$|SECURITY\.md$')

    def copied(self):
        rc, out, err = self.apply('--check')
        self.assertEqual(rc, 0, err)
        return [l.split(None, 1)[1] for l in out.splitlines()
                if l.startswith('copy ')]

    def test_patch_carries_no_proof_apparatus_and_no_binary(self):
        files = self.copied()
        mig = [f for f in files if f.startswith(self.MIG + '/')]
        self.assertIn(self.MIG + '/vtpm_migrate.c', mig)
        self.assertIn(self.MIG + '/tests/unit/main.c', mig)
        proof = [f for f in mig if self.PROOF.search(f[len(self.MIG) + 1:])]
        self.assertEqual(proof, [])
        self.assertFalse([f for f in files if 'xen-tree' in f
                          or f.startswith('tools/python/tests')], files)
        self.assertEqual(self.apply()[0], 0)
        for rel in files:
            with open(os.path.join(self.tree, rel), 'rb') as f:
                self.assertNotIn(b'\0', f.read(), rel)

    def test_patch_file_applies_with_patch_p1_and_equals_the_applied_tree(self):
        pristine = os.path.join(self.tmp, 'pristine')
        shutil.copytree(self.tree, pristine, symlinks=True)
        rc, patch, err = run([sys.executable, APPLY, '--patch', pristine])
        self.assertEqual(rc, 0, err)
        self.assertIn('For Xen 4.1.x and 4.2.x; made from a Xen 4.2.5 tree',
                      patch)
        self.assertNotIn('Binary files', patch)
        self.assertNotIn(self.tmp, patch)
        self.assertEqual(self.apply()[0], 0)
        path = os.path.join(self.tmp, 'vtpm-migration.patch')
        with open(path, 'w') as f:
            f.write(patch)
        p = subprocess.Popen(['patch', '-p1', '-s', '-i', path], cwd=pristine,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        out = p.communicate()[0]
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(snapshot(pristine), snapshot(self.tree))

    def test_patch_needs_a_pristine_tree(self):
        self.assertEqual(self.apply()[0], 0)
        rc, out, err = run([sys.executable, APPLY, '--patch', self.tree])
        self.assertEqual(rc, 1)
        self.assertIn('pristine', err)
        self.assertEqual(out, '')

    # ---- the series ----------------------------------------------------------------

    def series(self):
        """A pristine copy of the stand-in, the series made from it and the
        names its series file lists."""
        pristine = os.path.join(self.tmp, 'pristine')
        shutil.copytree(STANDIN, pristine, symlinks=True)
        where = os.path.join(self.tmp, 'series')
        rc, out, err = run([sys.executable, APPLY, '--series', where,
                            pristine])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(where, 'series')) as f:
            names = f.read().split()
        return pristine, where, names

    def read_patch(self, where, name):
        with open(os.path.join(where, name)) as f:
            return f.read()

    def test_series_applied_in_order_gives_the_scripts_tree(self):
        pristine, where, names = self.series()
        self.assertEqual(len(names), 4)
        self.assertEqual(sorted(os.listdir(where)), sorted(names + ['series']))
        self.assertEqual(self.apply()[0], 0)
        for name in names:
            rc, out = patch_p1(pristine, os.path.join(where, name))
            self.assertEqual(rc, 0, name + ': ' + out)
        self.assertEqual(snapshot(pristine), snapshot(self.tree))

    def test_every_part_has_a_description_and_a_change(self):
        pristine, where, names = self.series()
        for name in names:
            text = self.read_patch(where, name)
            head, sep, diff = text.partition('\ndiff --git a/')
            self.assertTrue(sep and diff.strip(), name + ' is empty')
            self.assertRegex(diff, r'\n@@ |\nnew file mode|\ndeleted file')
            self.assertTrue(head.startswith('Description: '), name)
            # what and why (a paragraph), where it stands, which releases,
            # the licence of its new files
            self.assertGreater(len(head.split('\n .\n')[0].splitlines()), 5)
            self.assertIn('Part %d of 4' % (names.index(name) + 1), head)
            self.assertIn('For Xen 4.1.x and 4.2.x; made from a Xen 4.2.5 '
                          'tree', head)
            self.assertRegex(head, r'New files carry the licence|No new file')
            self.assertNotIn(self.tmp, text)
            for project in ('README', 'CONTRACT', 'SECURITY.md', 'make bench',
                            'apply-to-xen-tree', 'tools/apply'):
                self.assertNotIn(project, head, name)

    def test_first_part_is_the_reraise_alone(self):
        pristine, where, names = self.series()
        text = self.read_patch(where, names[0])
        self.assertEqual(re.findall(r'^diff --git a/(\S+) ', text, re.M),
                         ['tools/python/xen/xend/XendDomain.py'])
        diff = text[text.index('\n@@ '):].splitlines()
        # the stand-in's re-raise stands for xend's bare `raise`
        removed = [l[1:].split()[0] for l in diff if l[:1] == '-']
        self.assertEqual(removed, ['raise', 'raise'])
        self.assertEqual([l[1:].strip() for l in diff if l[:1] == '+'],
                         ['raise ex', 'raise ex'])

    def suites_run(self, out):
        """The suites check names after 'Running suite(s):', one a line."""
        m = re.search(r'Running suite\(s\):(.*?)\n\d+%: Checks: [1-9]', out,
                      re.S)
        self.assertTrue(m, out)
        return sorted(m.group(1).split())

    def test_each_part_builds_the_folder_and_passes_its_unit_tests(self):
        pristine, where, names = self.series()
        with open(os.path.join(PROJECT, self.MIG, 'tests/unit/unit.h')) as f:
            every_suite = sorted(re.findall(r'^UNIT_SUITE\((\w+)_suite\)',
                                            f.read(), re.M))
        built = {}
        for name in names:
            rc, out = patch_p1(pristine, os.path.join(where, name))
            self.assertEqual(rc, 0, name + ': ' + out)
            folder = 'diff --git a/%s/' % self.MIG
            if folder not in self.read_patch(where, name):
                continue
            stage = os.path.join(self.tmp, name)
            shutil.copytree(pristine, stage, symlinks=True)
            rc, out, err = run(['make', '-C', os.path.join(stage, 'tools'),
                                '-j2', 'all'])
            self.assertEqual(rc, 0, name + out + err)
            self.assertNotIn('warning:', out + err)
            # check names the suites on stdout; the tests write to stderr
            rc, out, err = run(['make', '-C', os.path.join(stage, self.MIG),
                                'check'])
            self.assertEqual(rc, 0, name + out + err)
            progs = sorted(n for n in ('vtpm_migrate', 'vtpm_backend') if
                           os.path.isfile(os.path.join(stage, self.MIG,
                                                       'build', n)))
            built[name] = (progs, self.suites_run(out))
        self.assertEqual(sorted(built), names[1:3])
        # the vTPM instances: the back end and the tests of its files only
        self.assertEqual(built[names[1]], (['vtpm_backend'], ['io', 'tpmif']))
        progs, suites = built[names[2]]
        self.assertEqual(progs, ['vtpm_backend', 'vtpm_migrate'])
        self.assertEqual(len(suites), len(every_suite), suites)
        self.assertEqual(set(suites) & set(['io', 'tpmif']), set(['io',
                                                                   'tpmif']))

    def test_the_series_table_claims_every_change_once(self):
        mod = script()
        names = [e.__name__ + '()' for _, e in mod.EDITS + mod.OPTIONAL_EDITS]
        names.append(mod.edit_top_makefile.__name__ + '()')
        for key in names + [rel for _, rel in mod.copies()]:
            mod.part_of(key)          # raises if claimed by none or by two
        twice = mod.CLAIMS + (('xend-migrate-reraise', ('docs/man/*',)),)
        self.assertRaises(mod.SeriesError, mod.part_of,
                          'docs/man/vtpm_backend.pod.8', twice)
        for unclaimed in ('docs/misc/something-new.txt', 'edit_unknown()',
                          'tools/hotplug/Linux/new-script'):
            self.assertRaises(mod.SeriesError, mod.part_of, unclaimed)
        # a file new in the folder goes to the vtpm_migrate part
        self.assertEqual(mod.PARTS[mod.part_of(self.MIG + '/new.c')][0],
                         mod.FOLDER_PART)
        # and what a part's C file includes comes with it, not later
        changes = mod.plan(self.tree)
        parts = dict((c.rel, c.part) for c in changes if c.kind == 'copy')
        n = len(self.MIG) + 1
        for rel, part in parts.items():
            if rel.startswith(self.MIG + '/') and rel.endswith(('.c', '.h')):
                with open(os.path.join(PROJECT, rel)) as f:
                    for inc in re.findall(r'#include "([^"]+)"', f.read()):
                        near = os.path.normpath(os.path.join(
                            os.path.dirname(rel), inc))
                        dep = near if near in parts else self.MIG + '/' + inc
                        self.assertLessEqual(parts[dep], part,
                                             '%s includes %s' % (rel[n:], inc))

    def test_new_files_carry_the_licence_of_the_part_of_xen_they_join(self):
        mod = script()
        self.assertIn('BSD-3-Clause', mod.licence_of(self.MIG + '/io.c'))
        self.assertIn('LGPL-2.1', mod.licence_of(
            'tools/hotplug/Linux/vtpm-swtpm'))
        self.assertIn('LGPL-2.1', mod.licence_of(
            'tools/python/xen/xend/server/vtpm_migration.py'))
        changes = mod.plan(self.tree)
        old = mod.stage(self.tree, changes, -1)
        for rel in mod.changed(old, mod.stage(self.tree, changes, 3)):
            if old[rel][0] is None:
                mod.licence_of(rel)   # raises for a place without one
        self.assertEqual(self.apply()[0], 0)
        head = self.read(self.MIG + '/Makefile').splitlines()[:2]
        self.assertEqual(head[0], '# SPDX-License-Identifier: BSD-3-Clause')
        self.assertIn('tools/vtpm_manager/COPYING', head[1])
        pristine, where, names = self.series()
        self.assertIn('No new file', self.read_patch(where, names[0]))
        self.assertRegex(self.read_patch(where, names[1]),
                         r'tools/hotplug/Linux/ +LGPL-2.1-only')
        for name in names[1:3]:
            self.assertRegex(self.read_patch(where, name),
                             r'tools/vtpm_manager/migration/ +BSD-3-Clause')

    def test_patch_header_names_nothing_a_xen_tree_lacks(self):
        rc, patch, err = run([sys.executable, APPLY, '--patch', STANDIN])
        self.assertEqual(rc, 0, err)
        head = patch[:patch.index('\ndiff --git ')]
        for project in ('README', 'CONTRACT', 'SECURITY.md', 'make bench',
                        'apply-to-xen-tree', 'tools/apply', 'docs/specs'):
            self.assertNotIn(project, head)
        self.assertIn('docs/misc/vtpm-migration-record.txt', head)
        self.assertIn('BSD-3-Clause', head)

    def test_readme_size_table_is_the_generated_one(self):
        with open(README) as f:
            self.assertEqual(f.read(), readme_with(readme_block(
                standin_stat_as_425())))

    # ---- what the tree's build says to xend and the hotplug scripts -----------------

    def test_programs_install_where_the_trees_generated_paths_say(self):
        self.assertEqual(self.apply()[0], 0)
        prefix = os.path.join(self.tmp, 'prefix')
        for folder in (self.MIG, 'tools/python', 'tools/hotplug/common'):
            target = 'install' if folder != 'tools/python' else 'all'
            rc, out, err = run(['make', '-C', os.path.join(self.tree, folder),
                                target, 'PREFIX=' + prefix, 'DESTDIR='])
            self.assertEqual(rc, 0, folder + out + err)
        sbin = os.path.join(prefix, 'sbin')
        # xend: xen/util/path.py, through auxbin as it finds xc_save
        probe = ('import sys; sys.path.insert(0, %r)\n'
                 'from xen.util import path, auxbin\n'
                 'print(path.SBINDIR)\n'
                 'print(auxbin.pathTo("vtpm_migrate"))\n'
                 % os.path.join(self.tree, 'tools/python'))
        env = dict(os.environ, XEN_STANDIN_BIN=self.tmp)
        p = subprocess.Popen([sys.executable, '-c', probe], env=env,
                             stdout=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(p.communicate()[0].split(),
                         [sbin, os.path.join(sbin, 'vtpm_migrate')])
        # hotplug scripts: hotplugpath.sh beside them
        scripts = os.path.join(prefix, 'etc/xen/scripts')
        rc, out, err = run(['sh', '-c', '. ./hotplugpath.sh && echo '
                            '"$SBINDIR"'], cwd=scripts)
        self.assertEqual(out.strip(), sbin)
        for prog in ('vtpm_migrate', 'vtpm_backend'):
            self.assertTrue(os.access(os.path.join(sbin, prog), os.X_OK))

    def test_a_distributions_flags_relax_werror(self):
        self.assertEqual(self.apply()[0], 0)
        # a warning from the tree's own headers (clang 14 gives one in Xen
        # 4.2.5's xen/foreign/x86_64.h); xen.c includes this one
        with open(os.path.join(self.tree, 'tools/libxc/xenctrl.h'), 'a') as f:
            f.write('static int xen_standin_unused_variable;\n')
        folder = os.path.join(self.tree, self.MIG)

        def build(*flags):
            obj = os.path.join(folder, 'build/xen.o')
            if os.path.exists(obj):
                os.remove(obj)
            rc, out, err = run(['make', '-C', folder, 'build/xen.o'] +
                               list(flags))
            return rc, out + err
        rc, out = build()
        self.assertNotEqual(rc, 0, out)
        self.assertIn('xen_standin_unused_variable', out)
        for flags in ('APPEND_CFLAGS=-Wno-error',
                      'EXTRA_CFLAGS_XEN_TOOLS=-Wno-error',
                      'CFLAGS=-O2 -Wno-error'):
            rc, out = build(flags)
            self.assertEqual(rc, 0, flags + ': ' + out)
            self.assertIn('xen_standin_unused_variable', out)
            self.assertIn('warning:', out)

    # ---- hosts that keep the old vtpm_manager --------------------------------------

    SWITCH = '/etc/xen/vtpm-swtpm.conf'

    def test_vtpm_backends_switch_to_swtpm_only_where_the_host_says_so(self):
        self.assertEqual(self.apply()[0], 0)
        rules = [l for l in self.read('tools/hotplug/Linux/xen-backend.rules')
                 .splitlines() if 'KERNEL=="vtpm*"' in l]
        self.assertEqual(len(rules), 2, rules)
        old = [l for l in rules if 'scripts/vtpm $env' in l]
        new = [l for l in rules if 'scripts/vtpm-swtpm $env' in l]
        self.assertEqual(len(old), 1)
        self.assertEqual(len(new), 1)
        self.assertIn('TEST!="%s"' % self.SWITCH, old[0])
        self.assertIn('TEST=="%s"' % self.SWITCH, new[0])
        agent = self.read('tools/hotplug/Linux/xen-backend.agent')
        self.assertIn('if [ -e %s ]; then' % self.SWITCH, agent)
        self.assertIn('/etc/xen/scripts/vtpm "$ACTION"', agent)
        # nothing the patch installs makes the switch
        self.assertFalse([f for f in self.copied()
                          if os.path.basename(f) == 'vtpm-swtpm.conf'])
        self.assertNotIn('vtpm-swtpm.conf', self.read(
            'tools/hotplug/Linux/Makefile'))

    def test_guide_ends_with_how_to_upgrade_from_the_old_manager(self):
        self.assertEqual(self.apply()[0], 0)
        guide = self.read('docs/misc/vtpm-migration.txt')
        title = 'Upgrading from the old vtpm_manager'
        self.assertIn(title, guide)
        last = guide[guide.rindex(title):]
        self.assertNotRegex(last, r'\n\d+\. ')   # the last section
        self.assertIn(self.SWITCH, last)

    def test_external_migration_tool_is_said_to_be_ignored(self):
        self.assertEqual(self.apply()[0], 0)
        conf = self.read('tools/examples/xend-config.sxp')
        i = conf.index("#(external-migration-tool '')")
        self.assertIn('Ignored for\n# vTPMs', conf[i - 200:i])
        pod = self.read('docs/man/xend-config.sxp.pod.5')
        self.assertNotIn('such as for example virtual TPM migration', pod)
        self.assertIn('Ignored for virtual TPMs', pod)


@unittest.skipUnless(os.environ.get('XEN_TREES') or
                     os.environ.get('XEN_TREES_REFUSED'), 'XEN_TREES not set')
class RealTreeTest(unittest.TestCase):
    """--check on real Xen trees: XEN_TREES must apply, XEN_TREES_REFUSED not."""

    def test_real_trees(self):
        for tree in os.environ.get('XEN_TREES', '').split():
            rc, out, err = run([sys.executable, APPLY, '--check', tree])
            self.assertEqual(rc, 0, tree + ': ' + err)
            self.assertIn('all anchors found', out)
            mod = script()
            self.assertEqual(len(mod.make_series(tree)), len(mod.PARTS))
            if mod.xen_version(tree) == '4.2.5':
                # the README's table, made without this tree, is this tree's
                self.assertEqual(offsets_of(mod.stat_rows(tree),
                                            mod.stat_rows(STANDIN)),
                                 read_offsets())
        for tree in os.environ.get('XEN_TREES_REFUSED', '').split():
            before = snapshot(tree)
            rc, out, err = run([sys.executable, APPLY, tree])
            self.assertEqual(rc, 1, tree + ': ' + out)
            self.assertIn('nothing changed', err)
            self.assertEqual(snapshot(tree), before)


def main():
    if sys.argv[1:2] == ['--offsets'] and len(sys.argv) == 3:
        mod = script()
        write_offsets(offsets_of(mod.stat_rows(sys.argv[2]),
                                 mod.stat_rows(STANDIN)))
        return 0
    if sys.argv[1:] == ['--readme']:
        text = readme_with(readme_block(standin_stat_as_425()))
        with open(README, 'w') as f:
            f.write(text)
        return 0
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    print('apply: %d passed, %d failed, %d skipped'
          % (result.testsRun - failed - skipped, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
