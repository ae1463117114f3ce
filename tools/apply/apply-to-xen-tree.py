#!/usr/bin/env python3
"""Apply vTPM migration to a Xen source tree of the xend era.

    apply-to-xen-tree.py [--check] XEN_TREE
    apply-to-xen-tree.py --patch PRISTINE_XEN_TREE > vtpm-migration.patch
    apply-to-xen-tree.py --series DIR PRISTINE_XEN_TREE
    apply-to-xen-tree.py --stat PRISTINE_XEN_TREE

Targets Xen 4.1.x and 4.2.x: the releases that have xend, the vTPM backend
(tools/vtpm_manager) and an xc_restore that reads the length-prefixed
device-model record (DeviceModelRecord0002).  Xen 4.0 lacks the latter;
4.3 removed tools/vtpm_manager; 4.5 removed xend.

What it does (all or nothing):
  - copies in the product only: the vtpm_migrate routines and their unit
    tests (MIGRATION_PRODUCT) with the folder's Xen-style Makefile
    (files/migration.Makefile, with the project Makefile's lists), the xend
    module (tools/python/xen/xend/server/vtpm_migration.py), the hotplug
    script (tools/hotplug/Linux/vtpm-swtpm), the admin guide and the record
    format (docs/misc/*.txt) and the man pages (docs/man/NAME.pod.8);
  - removes the 2006 migration daemon's sources from that folder;
  - hooks the module into xend (XendCheckpoint, XendDomain, the relocation
    server, tpmif);
  - hooks the folder into tools/Makefile (SUBDIRS, the subdir rules a
    folder with a slash needs, uninstall; 4.1: the top-level uninstall) and
    the ignore files, the script into the hotplug Makefile, and the udev
    rule and hotplug agent (old vtpm_manager script unless the host is
    switched by SWITCH), the new options into xend-config.sxp.

Every anchor is looked up before anything is written: if one is missing,
the tree is left untouched and each missing anchor is named.  --check only
reports.  --patch computes the change from a pristine tree and writes it as
one -p1 patch with a header, which `patch -p1` applies to that release's
pristine tree to give exactly what the script gives.  --series writes the
same change as a quilt series in DIR (DIR/series and one patch per part of
PARTS, each with a Description header), applied in order giving the same
tree, the folder building after each part.  --stat prints the size of each
part and of the whole.
"""

import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(os.path.dirname(HERE))

MIGRATION = 'tools/vtpm_manager/migration'
OLD_MIGRATION_FILES = ('vtpm_manager_if.c', 'vtpm_migrator.h',
                       'vtpm_migrator_if.c', 'vtpm_migratorc.c',
                       'vtpm_migratord.c', 'vtpm_migratord_handler.c')

MARK = 'vtpm_migration'


class Missing(Exception):
    """An expected function or anchor is not in the tree."""
    pass


# ---- locating code in Python sources ----------------------------------------

def _indent(line):
    return len(line) - len(line.lstrip())


def _blank(line):
    s = line.strip()
    return s == '' or s.startswith('#')


def _block(lines, start):
    """End (exclusive) of the block whose header is lines[start]."""
    base = _indent(lines[start])
    end = start + 1
    last = start
    while end < len(lines):
        if not _blank(lines[end]):
            if _indent(lines[end]) <= base:
                break
            last = end
        end += 1
    return last + 1


def _find_def(lines, path, name, within=None):
    """(start, end) of `def name(` at top level, or inside class `within`."""
    lo, hi = 0, len(lines)
    indent = 0
    if within is not None:
        pat = re.compile(r'^class\s+%s\b' % re.escape(within))
        for i, line in enumerate(lines):
            if pat.match(line):
                lo, hi = i + 1, _block(lines, i)
                break
        else:
            raise Missing('%s: no class %s' % (path, within))
        indent = None
    pat = re.compile(r'^(\s*)def\s+%s\s*\(' % re.escape(name))
    for i in range(lo, hi):
        m = pat.match(lines[i])
        if m and (indent is None and len(m.group(1)) > 0
                  or indent == len(m.group(1))):
            return i, _block(lines, i)
    where = within + '.' + name if within else name
    raise Missing('%s: no function %s()' % (path, where))


def _find_stmt(lines, lo, hi, stmt, path, func, last=False):
    """Index of the line in [lo, hi) whose text is exactly stmt."""
    found = [i for i in range(lo, hi) if lines[i].strip() == stmt]
    if not found:
        raise Missing("%s: %s() has no line '%s'" % (path, func, stmt))
    return found[-1] if last else found[0]


def _line(indent_of, text):
    return ' ' * _indent(indent_of) + text + '\n'


# ---- edits: each takes (path, text) and returns the new text ---------------

def _import_after(lines, path, anchor):
    for i, line in enumerate(lines):
        if line.strip() == anchor:
            return (i + 1, 'from xen.xend.server import vtpm_migration\n')
    raise Missing("%s: no line '%s' to import the module after"
                  % (path, anchor))


def _apply_inserts(lines, inserts):
    out = list(lines)
    for index, new in sorted(inserts, key=lambda x: x[0], reverse=True):
        out.insert(index, new)
    return ''.join(out)


def _in_except(lines, lo, i, path, func, stmt):
    """Require lines[i] to sit in an except block of func."""
    j = i - 1
    while j > lo and (_blank(lines[j]) or _indent(lines[j]) >= _indent(lines[i])):
        j -= 1
    if not lines[j].strip().startswith('except'):
        raise Missing("%s: %s() has no '%s' in its error handler"
                      % (path, func, stmt))


def _in_try(lines, lo, i, path, func):
    """The `try:` whose block holds lines[i]."""
    j = i - 1
    while j > lo and (_blank(lines[j]) or _indent(lines[j]) >= _indent(lines[i])):
        j -= 1
    if lines[j].strip() != 'try:':
        raise Missing("%s: %s() has no try block around '%s'"
                      % (path, func, lines[i].strip()))
    return j


def _dm_record(lines, i, path):
    """XendCheckpoint.save writes the device model's state with the legacy
    signature, read to the end of the stream.  Followed by a vTPM record
    it must be the length-prefixed form xc_restore also reads."""
    m = re.match(r'^\s*if os\.path\.exists\((.+)\):\s*$', lines[i - 1])
    if not m:
        raise Missing("%s: save() does not write the device model record "
                      "from the file it checks" % path)
    pad = ' ' * _indent(lines[i])
    return ''.join([
        pad + 'if vtpm:    # a vTPM record follows: the length-prefixed form\n',
        pad + '    write_exact(fd, b"DeviceModelRecord0002" + pack("I",\n',
        pad + '                os.path.getsize(%s)),\n' % m.group(1),
        pad + '                "could not write qemu signature")\n',
        pad + 'else:\n',
        pad + '    ' + lines[i].lstrip()])


def edit_checkpoint(path, text):
    lines = text.splitlines(True)
    inserts = [_import_after(lines, path, 'from xen.xend.XendLogging import log')]

    def before(i, call):
        inserts.append((i, _line(lines[i], call)))

    # save(): the sender is ready before the first byte, pulls at the
    # suspend, writes after the image and the device model
    s0, s1 = _find_def(lines, path, 'save')
    before(_find_stmt(lines, s0, s1, 'write_exact(fd, SIGNATURE, "could not '
                      'write guest state file: signature")', path, 'save'),
           'vtpm = vtpm_migration.check_before_save(fd, dominfo, network, '
           'dst, checkpoint, sock)')
    i = [k for k in range(s0, s1) if 'DEV_MIGRATE_STEP3' in lines[k]]
    i = i and [k for k in range(i[0], s1) if lines[k].strip() == 'if hvm:']
    if not i:
        raise Missing("%s: save() has no 'if hvm:' after device step 3"
                      % path)
    before(i[0], 'vtpm_migration.save_suspended(vtpm)')
    i = _find_stmt(lines, s0, s1, 'write_exact(fd, QEMU_SIGNATURE, "could '
                   'not write qemu signature")', path, 'save')
    lines[i] = _dm_record(lines, i, path)
    i = _find_stmt(lines, s0, s1, 'forkHelper(cmd, fd, saveInputHandler, '
                   'False)', path, 'save')
    before(_find_stmt(lines, i, s1, 'if checkpoint:', path, 'save'),
           'vtpm_migration.save_after_image(vtpm, fd)')
    i = _find_stmt(lines, s0, s1, 'dominfo.resumeDomain()', path, 'save',
                   last=True)
    _in_except(lines, s0, i, path, 'save', 'dominfo.resumeDomain()')
    before(i, 'exn = vtpm_migration.recover_after_failure(vtpm, exn)')

    # restore(): the receiver is ready before the image and loads after it;
    # a domain whose record from a file was refused is kept paused
    r0, r1 = _find_def(lines, path, 'restore')
    i = _find_stmt(lines, r0, r1, 'forkHelper(cmd, fd, handler.handler, '
                   'True)', path, 'restore')
    before(_in_try(lines, r0, i, path, 'restore'), 'vtpm = None')
    before(i, 'vtpm = vtpm_migration.restore_before_image(fd, dominfo, '
           'relocating)')
    inserts.append((i + 1, _line(lines[i], 'vtpm_migration.restore_after_'
                                 'image(vtpm)')))
    w = [k for k in range(i, r1)
         if lines[k].strip().startswith('dominfo.waitForDevices()')]
    if not w:
        raise Missing("%s: restore() has no 'dominfo.waitForDevices()'"
                      % path)
    before(w[0], 'vtpm_migration.keep_paused(vtpm, dominfo)')
    i = _find_stmt(lines, r0, r1, 'dominfo.destroy()', path, 'restore',
                   last=True)
    _in_except(lines, r0, i, path, 'restore', 'dominfo.destroy()')
    before(i, 'vtpm_migration.keep_after_failure(vtpm, exn)')
    return _apply_inserts(lines, inserts)


def edit_migrate_reraise(path, text):
    """XendDomain._domain_migrate*: after save() failed, `raise ex`.  Python
    2's bare `raise` there re-raises the timeout of the 3 s read of the
    destination's answer, hiding the reason save() failed."""
    lines = text.splitlines(True)
    for func in ('_domain_migrate', '_domain_migrate_by_ssl'):
        m0, m1 = _find_def(lines, path, func, 'XendDomain')
        i = _find_stmt(lines, m0, m1, 'raise XendError("%s (from %s)" % '
                       '(m_dsterr.group(2), dst))', path, func)
        j = i + 1
        while _blank(lines[j]):
            j += 1
        if not lines[j].strip().startswith('raise'):
            raise Missing("%s: %s() does not re-raise after the destination's "
                          "answer" % (path, func))
        lines[j] = _line(lines[j], 'raise ex')
    return ''.join(lines)


def edit_xend_domain(path, text):
    lines = text.splitlines(True)
    inserts = [_import_after(lines, path, 'from xen.xend.XendLogging import log')]
    d0, d1 = _find_def(lines, path, 'domain_save', 'XendDomain')
    i = _find_stmt(lines, d0, d1, 'fd = os.open(dst, oflags)', path,
                   'domain_save')
    inserts.append((i, _line(lines[i], 'vtpm_migration.check(dominfo, dst, '
                             'False, checkpoint)')))
    d0, d1 = _find_def(lines, path, 'domain_delete', 'XendDomain')
    i = _find_stmt(lines, d0, d1, 'self._domain_delete_by_info(dominfo)',
                   path, 'domain_delete')
    inserts.append((i + 1, _line(lines[i], 'vtpm_migration.delete_state('
                                 'dominfo)')))
    for func, word, ssl in (('_domain_migrate', 'receive', 'False'),
                            ('_domain_migrate_by_ssl', 'sslreceive', 'True')):
        m0, m1 = _find_def(lines, path, func, 'XendDomain')
        pat = re.compile(r'^\s*sock\.send\(b?"%s\\n"\)\s*$' % word)
        found = [i for i in range(m0, m1) if pat.match(lines[i])]
        if not found:
            raise Missing('%s: %s() has no sock.send("%s\\n")'
                          % (path, func, word))
        inserts.append((found[0], _line(lines[found[0]],
                        'vtpm_migration.ask_destination(dominfo, dst, sock, '
                        '%s)' % ssl)))
        # A vTPM step's error already says what the destination answered;
        # the destination's own error then only says its stream broke.
        i = _find_stmt(lines, m0, m1, 'raise XendError("%s (from %s)" % '
                       '(m_dsterr.group(2), dst))', path, func)
        k = _find_stmt(lines, m0, i, 'if m_dsterr:', path, func, last=True)
        lines[k] = _line(lines[k], 'if m_dsterr and not isinstance(ex, '
                         'vtpm_migration.VtpmMigrationError):')
    return _apply_inserts(lines, inserts)


def edit_relocate(path, text):
    lines = text.splitlines(True)
    inserts = [_import_after(lines, path, 'from xen.xend.XendLogging import log')]
    f0, f1 = _find_def(lines, path, 'op_receive', 'RelocationProtocol')
    pad = ' ' * _indent(lines[f0])
    inserts.append((f0, pad + 'def op_vtpm_check(self, _, req):\n' + pad +
                    '    return vtpm_migration.op_vtpm_check(self, req)\n\n'))
    return _apply_inserts(lines, inserts)


def _divert(lines, path, name, within, body):
    """body first in the function, after its docstring: a switched host
    goes to the module, any other runs the function as it was."""
    start, end = _find_def(lines, path, name, within)
    i = start
    while not lines[i].rstrip().endswith(':'):
        i += 1
    i += 1
    first = lines[i].strip()
    quote = first[:3]
    if quote in ('"""', "'''"):
        if len(first) < 6 or not first.endswith(quote):
            i += 1
            while quote not in lines[i]:
                i += 1
        i += 1
    pad = ' ' * (_indent(lines[start]) + 4)
    return lines[:i] + [pad + b + '\n' for b in body] + lines[i:]


def edit_tpmif(path, text):
    lines = text.splitlines(True)
    imp = 'from xen.xend.server.DevController import DevController'
    for i, line in enumerate(lines):
        if line.strip() == imp:
            lines.insert(i + 1, 'from xen.xend.server import vtpm_migration\n')
            break
    else:
        raise Missing("%s: no line '%s' to import the module after"
                      % (path, imp))
    lines = _divert(lines, path, 'migrate', 'TPMifController', [
        'if vtpm_migration.opted_in():    # swtpm vTPMs: XendCheckpoint',
        '    return vtpm_migration.check(self.vm, dst, network, False, step)'])
    lines = _divert(lines, path, 'recover_migrate', 'TPMifController', [
        'if vtpm_migration.opted_in():    # XendCheckpoint.save recovers',
        '    return 0'])
    lines = _divert(lines, path, 'destroy_vtpmstate', None, [
        'if vtpm_migration.opted_in():    # swtpm: only xm delete deletes',
        '    return vtpm_migration.destroy_state(uuids)'])
    return ''.join(lines)


def _insert_after_line(path, text, pattern, new, what):
    lines = text.splitlines(True)
    pat = re.compile(pattern)
    for i, line in enumerate(lines):
        if pat.match(line):
            lines[i + 1:i + 1] = new
            return ''.join(lines)
    raise Missing('%s: no %s' % (path, what))


# The subdir-all-% (clean, install, distclean) pattern rules of tools/Rules.mk
# never match a target with a slash in it, so tools/Makefile names the rules
# for vtpm_manager/migration itself, as it does for debugger/gdbsx and kdd.
SUBDIR_RULES = """
# vtpm_manager/migration has a slash: the subdir-%% rules of Rules.mk miss it.
subdir-all-%(d)s subdir-install-%(d)s: .phony
	$(MAKE) -C %(d)s $(patsubst subdir-%%-%(d)s,%%,$@)

subdir-clean-%(d)s subdir-distclean-%(d)s: .phony
	$(MAKE) -C %(d)s clean
""" % {'d': 'vtpm_manager/migration'}

# Xen 4.2 removes installed tools in tools/Makefile's uninstall, 4.1 in the
# top-level Makefile's; neither has a per-folder uninstall to hook into.
UNINSTALL_ANCHOR = r'^\trm -rf \$\(D\)\$\(SBINDIR\)/xen\* .*$'


def _uninstall_line(folder):
    return '\t$(MAKE) -C %s uninstall\n' % folder


def edit_tools_makefile(path, text):
    text = _insert_after_line(
        path, text, r'^SUBDIRS-\$\(VTPM_TOOLS\)\s*\+=\s*vtpm\s*$',
        ['# swtpm vTPMs: vtpm_migrate, vtpm_backend (need OpenSSL >= 1.1.1)\n',
         'VTPM_MIGRATION ?= y\n',
         'SUBDIRS-$(VTPM_MIGRATION) += vtpm_manager/migration\n'],
        "line 'SUBDIRS-$(VTPM_TOOLS) += vtpm'")
    if re.search(r'^uninstall:', text, re.M):
        text = _insert_after_line(
            path, text, UNINSTALL_ANCHOR,
            [_uninstall_line('vtpm_manager/migration')],
            "line 'rm -rf $(D)$(SBINDIR)/xen* ...' in its uninstall")
    if not text.endswith('\n'):
        text += '\n'
    return text + SUBDIR_RULES


def edit_top_makefile(path, text):
    """Xen 4.1: the top-level uninstall removes the tools."""
    return _insert_after_line(
        path, text, UNINSTALL_ANCHOR,
        [_uninstall_line('tools/vtpm_manager/migration')],
        "line 'rm -rf $(D)$(SBINDIR)/xen* ...' in its uninstall (nor has "
        "tools/Makefile an uninstall)")


def edit_vtpm_manager_makefile(path, text):
    new, n = re.subn(r'^(SUBDIRS\s*=.*?)\s+migration\b', r'\1', text,
                     count=1, flags=re.M)
    if n != 1:
        raise Missing("%s: no 'migration' in its SUBDIRS line" % path)
    return new


def edit_hotplug_makefile(path, text):
    return _insert_after_line(
        path, text, r'^XEN_SCRIPTS\s*\+=\s*vtpm\s+vtpm-delete\s*$',
        ['XEN_SCRIPTS += vtpm-swtpm\n'],
        "line 'XEN_SCRIPTS += vtpm vtpm-delete'")


# The per-host switch from the old vtpm_manager to swtpm vTPMs: a host is
# switched when vtpm-swtpm's settings file exists.  Nothing the patch
# installs creates it.
SWITCH = '/etc/xen/vtpm-swtpm.conf'


def edit_udev_rules(path, text):
    pat = re.compile(r'^(.*KERNEL=="vtpm\*",)( RUN\+="/etc/xen/scripts/)vtpm'
                     r'( \$env\{ACTION\}.*)$', re.M)
    m = pat.search(text)
    if not m:
        raise Missing("%s: no vtpm rule running /etc/xen/scripts/vtpm" % path)
    new = ('# vTPM backends: swtpm (vtpm-swtpm) on a host with %s,\n'
           '# else vtpm_manager (docs/misc/vtpm-migration.txt, "Upgrading").\n'
           '%s TEST!="%s",%svtpm%s\n'
           '%s TEST=="%s",%svtpm-swtpm%s'
           % (SWITCH, m.group(1), SWITCH, m.group(2), m.group(3),
              m.group(1), SWITCH, m.group(2), m.group(3)))
    return text[:m.start()] + new + text[m.end():]


def edit_backend_agent(path, text):
    """Systems without udev: the same switch in xen-backend.agent."""
    pat = re.compile(r'^(\s*)/etc/xen/scripts/vtpm "\$ACTION"[ \t]*$', re.M)
    m = pat.search(text)
    if not m:
        return text
    pad = m.group(1)
    new = ('%sif [ -e %s ]; then\n'
           '%s  /etc/xen/scripts/vtpm-swtpm "$ACTION"\n'
           '%selse\n'
           '%s  /etc/xen/scripts/vtpm "$ACTION"\n'
           '%sfi' % (pad, SWITCH, pad, pad, pad, pad))
    return text[:m.start()] + new + text[m.end():]


EXTERNAL_TOOL = "#(external-migration-tool '')"


def edit_xend_config(path, text):
    fragment = _read(os.path.join(PROJECT, 'tools/examples/'
                                  'xend-config-vtpm-migration.sxp'))
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if line.strip() == EXTERNAL_TOOL:
            break
    else:
        raise Missing('%s: no line "%s"' % (path, EXTERNAL_TOOL))
    # That tool is no longer run for a vTPM: say so where it is offered.
    j = i
    if i > 0 and 'virtual TPM migration' in lines[i - 1]:
        j = i - 1
    note = ['# The tool run at each step of a device migration.  Ignored for\n',
            '# vTPMs: vtpm_migrate moves them (vtpm-migration below).\n',
            lines[i], '\n']
    return ''.join(lines[:j] + note + fragment.splitlines(True) +
                   lines[i + 1:])


def edit_xend_config_pod(path, text):
    anchor = 'migration, such as for example virtual TPM migration.'
    if anchor not in text:
        return text
    return text.replace(anchor, 'migration.  Ignored for virtual TPMs: '
                        'vtpm_migrate moves them\n(see '
                        'F<docs/misc/vtpm-migration.txt>).', 1)


def _ignore_edit(name, after, line):
    """The folder's build outputs: one line after the vtpm_manager's own."""
    def edit(path, text):
        if line in text.splitlines():
            return text
        lines = text.splitlines(True)
        for i, old in enumerate(lines):
            if old.rstrip('\n') == after:
                lines.insert(i + 1, line + '\n')
                return ''.join(lines)
        if text and not text.endswith('\n'):
            text += '\n'
        return text + line + '\n'
    edit.__name__ = name
    return edit


def check_restore_reads_dm_length(path, text):
    if 'DeviceModelRecord0002' not in text:
        raise Missing("%s: no 'DeviceModelRecord0002': this xc_restore reads "
                      "the device model record to end of stream, leaving no "
                      "room for the vTPM record (Xen 4.1 or later needed)"
                      % path)
    return text


# In this order; edits of one file run one after the other.
EDITS = (
    ('tools/python/xen/xend/XendDomain.py', edit_migrate_reraise),
    ('tools/python/xen/xend/XendCheckpoint.py', edit_checkpoint),
    ('tools/python/xen/xend/XendDomain.py', edit_xend_domain),
    ('tools/python/xen/xend/server/relocate.py', edit_relocate),
    ('tools/python/xen/xend/server/tpmif.py', edit_tpmif),
    ('tools/Makefile', edit_tools_makefile),
    ('tools/vtpm_manager/Makefile', edit_vtpm_manager_makefile),
    ('tools/hotplug/Linux/Makefile', edit_hotplug_makefile),
    ('tools/hotplug/Linux/xen-backend.rules', edit_udev_rules),
    ('tools/examples/xend-config.sxp', edit_xend_config),
    ('tools/libxc/xc_domain_restore.c', check_restore_reads_dm_length),
)

# Made only where the file exists (a release tarball may lack ignore files).
OPTIONAL_EDITS = (
    ('tools/hotplug/Linux/xen-backend.agent', edit_backend_agent),
    ('docs/man/xend-config.sxp.pod.5', edit_xend_config_pod),
    ('.gitignore', _ignore_edit('edit_gitignore',
                                'tools/vtpm_manager/manager/vtpm_managerd',
                                'tools/vtpm_manager/migration/build/')),
    ('.hgignore', _ignore_edit('edit_hgignore',
                               '^tools/vtpm_manager/manager/vtpm_managerd$',
                               '^tools/vtpm_manager/migration/build/.*$')),
)


# ---- files copied in -----------------------------------------------------------

def _read(path):
    f = open(path)
    try:
        return f.read()
    finally:
        f.close()


def _mode(path):
    return os.stat(path).st_mode & 0o7777


# What of tools/vtpm_manager/migration/ goes into a Xen tree: the routines
# and the programs, and the unit tests that `make check` builds and runs
# there, with their vectors.  The rest of that folder (fuzz targets and
# corpora, bench, e2e, QEMU and demo scripts, shims, test tools, the
# project's own Makefile) proves the routines and stays in this project.
# Patterns are relative to the folder; a new kind of product file is one
# more line here.
MIGRATION_PRODUCT = (
    '*.c',
    '*.h',
    'tests/unit/*.c',
    'tests/unit/*.h',
    'tests/vectors/*',
)

# The Makefile the folder gets in a Xen tree; it takes its lists of
# programs and sources from the project's own Makefile (so a source or
# program added there is built in the tree too).
TREE_MAKEFILE = os.path.join(HERE, 'files', 'migration.Makefile')


def migration_files():
    """(source, tree-relative destination) for the vtpm_migrate folder."""
    src_root = os.path.join(PROJECT, MIGRATION)
    found = set()
    for pattern in MIGRATION_PRODUCT:
        for src in glob.glob(os.path.join(src_root, pattern)):
            if os.path.isfile(src):
                found.add(os.path.relpath(src, src_root))
    return [(os.path.join(src_root, rel), os.path.join(MIGRATION, rel))
            for rel in sorted(found)]


def copies():
    pairs = migration_files()
    pairs += [
        (os.path.join(PROJECT, 'tools/python/xen/xend/server/vtpm_migration.py'),
         'tools/python/xen/xend/server/vtpm_migration.py'),
        (os.path.join(PROJECT, 'tools/examples/vtpm-swtpm'),
         'tools/hotplug/Linux/vtpm-swtpm'),
    ]
    # The guide and the record format: docs/misc/*.txt, which Xen 4.2's
    # docs/Makefile copies into its html/ and txt/ outputs (4.1 ships
    # docs/misc as it is).
    for src in sorted(glob.glob(os.path.join(PROJECT, 'docs/misc/*.txt'))):
        pairs.append((src, os.path.relpath(src, PROJECT)))
    # Man pages, named as Xen names its own (docs/man/NAME.pod.SECTION).
    for src in sorted(glob.glob(os.path.join(PROJECT, 'docs/man/*.8.pod'))):
        name = os.path.basename(src)[:-len('.8.pod')]
        pairs.append((src, 'docs/man/%s.pod.8' % name))
    return pairs


def _assignment(name):
    """A make assignment `NAME := ...` with its continuation lines."""
    return re.compile(r'^%s[ \t]*:?=((?:[^\n]*\\\n)*[^\n]*)\n' % name, re.M)


def make_list(text, name, required=True):
    """The words a Makefile assigns to NAME (one := or = line, then +=)."""
    m = _assignment(name).search(text)
    if not m:
        if not required:
            return []
        raise Missing('no %s in the project Makefile' % name)
    words = m.group(1).replace('\\\n', ' ').split()
    for more in re.findall(r'^%s[ \t]*\+=((?:[^\n]*\\\n)*[^\n]*)$' % name,
                           text, re.M):
        words += more.replace('\\\n', ' ').split()
    if [w for w in words if '$' in w]:
        raise Missing('%s in the project Makefile is not a plain list' % name)
    return words


def _format_list(name, words):
    head = '%-8s := ' % name
    lines, cur = [], head
    for w in words:
        if len(cur) + len(w) > 76 and cur.strip() != head.strip():
            lines.append(cur.rstrip() + ' \\')
            cur = ' ' * len(head)
        cur += w + ' '
    lines.append(cur.rstrip())
    return '\n'.join(lines) + '\n'


def shared_lists(project, present=None):
    """The lists block of the tree's Makefile: PROGS, each program's own
    sources (PROG_SRCS) and LIB_SRCS, as the project's Makefile has them;
    with `present` (folder-relative names), only the files there."""
    def keep(words):
        if present is None:
            return words
        return [w for w in words if w in present]
    progs = [p for p in make_list(project, 'PROGS')
             if present is None or p + '.c' in present]
    block = _format_list('PROGS', progs)
    for prog in progs:
        srcs = keep(make_list(project, prog + '_SRCS', required=False))
        if srcs:
            block += _format_list(prog + '_SRCS', srcs)
    return block + _format_list('LIB_SRCS',
                                keep(make_list(project, 'LIB_SRCS')))


def tree_makefile(present=None):
    """The folder's Makefile in a Xen tree, with the project's lists in
    place of the template's (from its PROGS line to its LIB_SRCS); with
    `present`, the lists of a patch of the series that carries only those
    of the folder's files."""
    project = _read(os.path.join(PROJECT, MIGRATION, 'Makefile'))
    text = _read(TREE_MAKEFILE)
    start = _assignment('PROGS').search(text)
    end = _assignment('LIB_SRCS').search(text)
    if not start or not end or end.end() < start.start():
        raise Missing('%s: no PROGS ... LIB_SRCS block' % TREE_MAKEFILE)
    return (text[:start.start()] + shared_lists(project, present) +
            text[end.end():])


def binary_files(pairs):
    found = []
    for src, rel in pairs:
        f = open(src, 'rb')
        try:
            if b'\0' in f.read():
                found.append(rel)
        finally:
            f.close()
    return found


# ---- the series: which patch each change belongs to -------------------------
#
# A reviewer reads the change as a quilt series of PARTS, in this order.
# CLAIMS says which part each change belongs to: a pattern is a glob on the
# path in the tree of a file the patch adds, or the name of an edit (EDITS,
# OPTIONAL_EDITS) followed by ().  Every change must be claimed by exactly
# one part, except files of tools/vtpm_manager/migration, which go to the
# 'vtpm-migrate' part unless claimed.  Two rules follow the table: a header
# that a part's C file includes, with the source of the same name, goes
# with that part (or an earlier one), so each part's folder builds; the
# 2006 daemon's sources leave, and the folder's Makefile is rewritten, with
# the first part that adds files to the folder (the Makefile then lists
# the files present after each part).

PARTS = (
    ('xend-migrate-reraise',
     "xend: a failed migration raises save()'s own error",
     """\
When XendCheckpoint.save() fails during xm migrate, XendDomain's
_domain_migrate() and _domain_migrate_by_ssl() read the destination's
answer with a 3 s timeout, to report an error the destination sent, and
then re-raise with a bare `raise`.  Python 2 re-raises the last exception
handled in the function: when the destination sent nothing, that is the
timeout of this read, and the reason save() failed is lost.  `raise ex`
re-raises save()'s own exception.

This changes the error of every failed migration whose destination sent
no error: xm migrate reports why save() failed instead of a timeout.  The
vTPM migration of the later parts depends on it to say why a migration
was refused."""),
    ('vtpm-swtpm-instances',
     'vTPM instances on swtpm: the vtpm-swtpm hotplug script, vtpm_backend',
     """\
Each guest vTPM becomes one swtpm process in dom0 (libtpms; TPM 1.2 and
2.0), the maintained successor of the TPM emulator vtpm_manager hosts.
The hotplug script vtpm-swtpm starts it for a vtpm backend, with its
state directory and control socket, and starts vtpm_backend beside it:
vtpm_backend serves the guest's xen-tpmfront over the shared page of
io/tpmif.h and carries its TPM commands to swtpm.  For a domain that is
being restored or migrated in, swtpm starts without state and waits for
it (vtpm_migrate, next part); a migrating guest never gets a fresh TPM.

A host keeps the old vtpm_manager until its administrator switches it:
the udev rule for vtpm backends (and xen-backend.agent) runs vtpm-swtpm
only where /etc/xen/vtpm-swtpm.conf exists, and nothing installs that
file.  tools/Makefile builds tools/vtpm_manager/migration
(VTPM_MIGRATION ?= y; needs OpenSSL >= 1.1.1) with explicit subdir rules,
as the folder's name has a slash, and its uninstall removes what the
folder installs.  That folder's 2006 migration daemon (vtpm_migratord,
vtpm_migrator: unauthenticated RSA key exchange, AES-CBC with a zero IV
and no MAC, a root daemon on a plaintext port) leaves with its Makefile;
vtpm_migrate replaces it in the next part.  `make check` in the folder
runs the unit tests of the shared-page protocol and of the I/O routines
(needs `check')."""),
    ('vtpm-migrate',
     "vtpm_migrate: a vTPM's state as one sealed, signed record",
     """\
vtpm_migrate moves a vTPM's state (swtpm's permanent, volatile and
savestate blobs) as one record on a file descriptor, as xc_save and
xc_restore move a domain's memory: sealed to the receiving host (X25519,
HKDF-SHA256, AES-256-GCM), signed by the sending host (Ed25519), bound to
the domain and vTPM UUIDs, and numbered by a per-host ledger so that a
record loads once.  Trust between hosts is explicit (keygen, trust,
peers), like SSH known hosts.  send leaves the source TPM running; recv
loads a swtpm that vtpm-swtpm started without state, or loads nothing;
finish and recover end a migration on the source; inspect and status are
for the administrator.  It replaces the 2006 migration daemon removed in
the previous part.

The record format, with a test vector: docs/misc/vtpm-migration-record.txt;
the command: vtpm_migrate(8).  `make check` in the folder adds the unit
tests of the record, sealing, host keys, the ledger, the swtpm control
channel (with swtpm) and the command line.  Nothing runs vtpm_migrate yet:
the next part hooks it into xend."""),
    ('xend-vtpm-migration',
     'xend: the vTPM moves with its guest in migrate, save and restore',
     """\
xend runs vtpm_migrate on its migration stream as it runs xc_save and
xc_restore: xen/xend/server/vtpm_migration.py, called from
XendCheckpoint.save() and restore(), XendDomain (save and delete), the
relocation server (a vtpm_check question before the image is sent) and
server/tpmif.py.  No daemon, no port, no second connection: the record
follows the image (for an HVM guest, the length-prefixed device-model
record, which is why xc_restore must read DeviceModelRecord0002) in the
same stream.  Only a host switched to swtpm vTPMs (the previous parts)
takes these paths: on any other, tpmif.py's own (external-migration-tool,
vtpm-delete) and every other xend path run as before.

xend-config.sxp gets the options, commented out, with
(vtpm-migration no) the default, and says that external-migration-tool is
no longer run for vTPMs.  The administrator's guide,
docs/misc/vtpm-migration.txt: keys and trust between hosts, the options,
what happens in migrate, save/restore and local migration, failures and
what to do, the rollback policy, and what changes when a host opts in."""),
)

CLAIMS = (
    ('xend-migrate-reraise', (
        'edit_migrate_reraise()',
    )),
    ('vtpm-swtpm-instances', (
        'tools/hotplug/Linux/vtpm-swtpm',
        'edit_hotplug_makefile()', 'edit_udev_rules()',
        'edit_backend_agent()',
        'edit_tools_makefile()', 'edit_top_makefile()',
        'edit_vtpm_manager_makefile()', 'edit_gitignore()', 'edit_hgignore()',
        MIGRATION + '/vtpm_backend.c', MIGRATION + '/backend*',
        MIGRATION + '/xen_ring.*', MIGRATION + '/tpmif.*',
        MIGRATION + '/tests/unit/main.c', MIGRATION + '/tests/unit/unit.h',
        MIGRATION + '/tests/unit/test_io.c',
        MIGRATION + '/tests/unit/test_tpmif.c',
        'docs/man/vtpm_backend.pod.8',
    )),
    ('vtpm-migrate', (
        'docs/man/vtpm_migrate.pod.8', 'docs/misc/vtpm-migration-record.txt',
    )),
    ('xend-vtpm-migration', (
        'tools/python/xen/xend/server/vtpm_migration.py',
        'edit_checkpoint()', 'edit_xend_domain()', 'edit_relocate()',
        'edit_tpmif()', 'edit_xend_config()', 'edit_xend_config_pod()',
        'check_restore_reads_dm_length()',
        'docs/misc/vtpm-migration.txt',
    )),
)

# The part that takes the folder's files no pattern claims.
FOLDER_PART = 'vtpm-migrate'

# The licence each new file carries: that of the part of Xen it joins.
LICENCES = (
    (MIGRATION + '/*', 'BSD-3-Clause (tools/vtpm_manager/COPYING)'),
    ('tools/hotplug/Linux/*', 'LGPL-2.1-only, as the other hotplug scripts'),
    ('tools/python/xen/xend/*', 'LGPL-2.1-only, as the rest of xend'),
    ('docs/*', 'GPL-2.0-only (COPYING), as the rest of docs/'),
)


class SeriesError(Exception):
    """The series table claims a change twice, or not at all."""
    pass


def part_names():
    return ['%04d-%s.patch' % (i + 1, slug)
            for i, (slug, _, _) in enumerate(PARTS)]


def part_of(key, claims=CLAIMS):
    """The index in PARTS of the part that claims `key` (a tree path or
    'edit_name()')."""
    slugs = [slug for slug, _, _ in PARTS]
    found = [slug for slug, patterns in claims
             for p in patterns if fnmatch.fnmatchcase(key, p)]
    found = sorted(set(found), key=slugs.index)
    if len(found) > 1:
        raise SeriesError('%s is claimed by %s' % (key, ' and '.join(found)))
    if not found:
        if not key.startswith(MIGRATION + '/'):
            raise SeriesError('%s is claimed by no part of the series' % key)
        found = [FOLDER_PART]
    return slugs.index(found[0])


def licence_of(rel):
    for pattern, licence in LICENCES:
        if fnmatch.fnmatchcase(rel, pattern):
            return licence
    raise SeriesError('%s: no licence for a new file there' % rel)


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)


def _pull_includes(parts):
    """parts: folder-relative name -> part index.  What a part's file
    includes (and the source beside a header) moves to that part when it
    came later, so that every part's folder builds."""
    src_root = os.path.join(PROJECT, MIGRATION)
    moved = True
    while moved:
        moved = False
        for rel in sorted(parts):
            if not rel.endswith(('.c', '.h')):
                continue
            for inc in _INCLUDE.findall(_read(os.path.join(src_root, rel))):
                near = os.path.normpath(os.path.join(os.path.dirname(rel),
                                                     inc))
                header = near if near in parts else inc
                for dep in (header, header[:-2] + '.c'):
                    if dep in parts and parts[dep] > parts[rel]:
                        parts[dep] = parts[rel]
                        moved = True


# ---- plan and apply ------------------------------------------------------------

class Change(object):
    """One change: an edit of a tree file, a file copied in, an old file
    removed, or the folder's Makefile; `part` is its index in PARTS."""

    def __init__(self, kind, rel, what=None):
        self.kind, self.rel, self.what = kind, rel, what
        self.part = None

    def key(self):
        if self.kind == 'edit':
            return self.what.__name__ + '()'
        return self.rel


def _edits(tree):
    edits = list(EDITS)
    tools_mk = os.path.join(tree, 'tools/Makefile')
    if os.path.isfile(tools_mk) and not re.search(r'^uninstall:',
                                                  _read(tools_mk), re.M):
        edits.append(('Makefile', edit_top_makefile))
    return edits


def plan(tree):
    """Every change, each with its part of the series; raise Missing
    naming every absent anchor."""
    missing = []
    changes = []
    texts = {}
    for rel, edit in _edits(tree):
        path = os.path.join(tree, rel)
        if rel not in texts:
            texts[rel] = _read(path) if os.path.isfile(path) else None
            if texts[rel] is None:
                missing.append('%s: file not found' % rel)
        if texts[rel] is None:
            continue
        try:
            texts[rel] = edit(rel, texts[rel])
        except Missing as e:
            missing.append(str(e))
            continue
        changes.append(Change('edit', rel, edit))
    if not os.path.isdir(os.path.join(tree, 'tools/vtpm_manager')):
        missing.append('tools/vtpm_manager: folder not found')
    if missing:
        raise Missing('\n'.join(missing))
    for rel, edit in OPTIONAL_EDITS:
        if os.path.isfile(os.path.join(tree, rel)):
            changes.append(Change('edit', rel, edit))
    folder = []
    for n in OLD_MIGRATION_FILES:
        if os.path.exists(os.path.join(tree, MIGRATION, n)):
            folder.append(Change('remove', os.path.join(MIGRATION, n)))
    for src, rel in copies():
        c = Change('copy', rel, src)
        (folder if rel.startswith(MIGRATION + '/') else changes).append(c)
    folder.append(Change('makefile', os.path.join(MIGRATION, 'Makefile')))
    _assign(changes + folder)
    return changes + folder


def _assign(changes):
    for c in changes:
        if c.kind in ('edit', 'copy'):
            c.part = part_of(c.key())
    n = len(MIGRATION) + 1
    parts = dict((c.rel[n:], c.part) for c in changes if c.kind == 'copy'
                 and c.rel.startswith(MIGRATION + '/'))
    _pull_includes(parts)
    for c in changes:
        if c.kind == 'copy' and c.rel[n:] in parts:
            c.part = parts[c.rel[n:]]
    first = min(parts.values())
    for c in changes:
        if c.kind in ('remove', 'makefile'):
            c.part = first


def _pristine(tree, rel):
    path = os.path.join(tree, rel)
    if os.path.isfile(path):
        return (_read(path), _mode(path))
    return (None, None)


def stage(tree, changes, upto):
    """The files the changes touch as they are after parts 0..upto of the
    series (upto = -1: the pristine tree): tree path -> (text or None,
    mode)."""
    files = {}
    n = len(MIGRATION) + 1
    folder = [c.rel[n:] for c in changes if c.kind == 'copy'
              and c.rel.startswith(MIGRATION + '/')]
    for c in changes:
        if c.rel not in files:
            files[c.rel] = _pristine(tree, c.rel)
        if c.part > upto:
            continue
        text, mode = files[c.rel]
        if c.kind == 'edit':
            files[c.rel] = (c.what(c.rel, text), mode)
        elif c.kind == 'copy':
            files[c.rel] = (_read(c.what), _mode(c.what))
        elif c.kind == 'remove':
            files[c.rel] = (None, None)
        else:
            present = [c2.rel[n:] for c2 in changes if c2.kind == 'copy'
                       and c2.part <= upto and c2.rel[n:] in folder]
            files[c.rel] = (tree_makefile(None if len(present) == len(folder)
                                          else set(present)), mode or 0o644)
    return files


def already_applied(tree):
    path = os.path.join(tree, 'tools/python/xen/xend/XendCheckpoint.py')
    return os.path.isfile(path) and MARK in _read(path)


def _write(path, text, mode):
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d)
    tmp = path + '.vtpm-tmp'
    f = open(tmp, 'w')
    try:
        f.write(text)
    finally:
        f.close()
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def changed(old, new):
    """The tree paths whose file differs between two stages."""
    return sorted(rel for rel in new if old.get(rel) != new[rel])


def apply(tree, changes):
    before = stage(tree, changes, -1)
    after = stage(tree, changes, len(PARTS) - 1)
    for rel in changed(before, after):
        text, mode = after[rel]
        path = os.path.join(tree, rel)
        if text is None:
            os.remove(path)
        else:
            _write(path, text, mode)


# ---- the patch as a file --------------------------------------------------------

def xen_version(tree):
    """'4.2.5' from xen/Makefile, or None."""
    path = os.path.join(tree, 'xen', 'Makefile')
    if not os.path.isfile(path):
        return None
    text = _read(path)
    parts = []
    for var in ('XEN_VERSION', 'XEN_SUBVERSION', 'XEN_EXTRAVERSION'):
        m = re.search(r'^export %s\s*\??=\s*(\S*)' % var, text, re.M)
        if not m:
            return None
        parts.append(m.group(1))
    extra = re.sub(r'\$\(XEN_VENDORVERSION\)', '', parts[2])
    return '%s.%s%s' % (parts[0], parts[1], extra)


def _git_mode(mode):
    return '100755' if mode & 0o111 else '100644'


def _whole_hunk(old, new):
    """Every old line removed, every new one added: a rewritten file reads
    better so than interleaved, and its counts do not depend on which
    lines the two happen to share."""
    body, ranges = [], []
    for sign, text in (('-', old), ('+', new)):
        lines = text.splitlines(True)
        ranges.append('1,%d' % len(lines) if lines else '0,0')
        for line in lines:
            body.append(sign + line)
            if not line.endswith('\n'):
                body.append('\n\\ No newline at end of file\n')
    return '@@ -%s +%s @@\n%s' % (ranges[0], ranges[1], ''.join(body))


def file_diff(rel, old, new, tmp, whole=False):
    """One file's change as a git-style unified diff (patch -p1 reads the
    mode lines; a plain diff would create every file 0644).  old and new
    are (text or None, mode)."""
    out = ['diff --git a/%s b/%s\n' % (rel, rel)]
    a, b = 'a/' + rel, 'b/' + rel
    if old[0] is None:
        out.append('new file mode %s\n' % _git_mode(new[1]))
        a = os.devnull
    elif new[0] is None:
        out.append('deleted file mode %s\n' % _git_mode(old[1]))
        b = os.devnull
    elif _git_mode(old[1]) != _git_mode(new[1]):
        out.append('old mode %s\nnew mode %s\n' % (_git_mode(old[1]),
                                                   _git_mode(new[1])))
    if old[0] == new[0]:
        return ''.join(out)
    if whole and old[0] is not None and new[0] is not None:
        return ''.join(out) + '--- %s\n+++ %s\n%s' % (a, b, _whole_hunk(
            old[0], new[0]))
    paths = []
    for name, (text, _) in (('a', old), ('b', new)):
        path = os.path.join(tmp, name)
        f = open(path, 'w')
        try:
            f.write(text or '')
        finally:
            f.close()
        paths.append(path)
    p = subprocess.Popen(['diff', '-u', '--label', a, '--label', b] + paths,
                         stdout=subprocess.PIPE)
    body = p.communicate()[0]
    if p.returncode > 1:
        raise OSError('diff failed on %s' % rel)
    if not isinstance(body, str):       # Python 3: bytes, as text
        body = body.decode('utf-8')
    return ''.join(out) + body


def diff_counts(diff):
    """(added, removed) lines of one file's diff."""
    added = removed = 0
    hunks = False
    for line in diff.splitlines():
        if line.startswith('@@'):
            hunks = True
        elif hunks and line.startswith('+'):
            added += 1
        elif hunks and line.startswith('-'):
            removed += 1
    return added, removed


def diff_stages(tree, old, new):
    """(the diff from stage old to stage new, [(path, added, removed)])."""
    rewritten = os.path.join(MIGRATION, 'Makefile')
    pristine = _pristine(tree, rewritten)
    tmp = tempfile.mkdtemp(prefix='vtpm-patch-')
    try:
        diffs, stat = [], []
        for rel in changed(old, new):
            d = file_diff(rel, old[rel], new[rel], tmp,
                          whole=rel == rewritten and old[rel] == pristine)
            added, removed = diff_counts(d)
            diffs.append(d)
            stat.append((rel, added, removed))
        return ''.join(diffs), stat
    finally:
        shutil.rmtree(tmp)


def format_stat(stat):
    total_a = sum(a for _, a, _ in stat)
    total_r = sum(r for _, _, r in stat)
    lines = [' %-60s +%d -%d' % row for row in stat]
    lines.append(' %d file%s changed, %d insertions(+), %d deletions(-)'
                 % (len(stat), 's' if len(stat) != 1 else '', total_a,
                    total_r))
    return '\n'.join(lines)


def new_file_licences(old, new):
    """'PATTERN: licence' lines for the files new in stage new."""
    found = []
    for rel in changed(old, new):
        if old[rel][0] is None and new[rel][0] is not None:
            licence = licence_of(rel)
            for pattern, text in LICENCES:
                if text == licence and fnmatch.fnmatchcase(rel, pattern):
                    where = pattern.rstrip('*').rstrip('/') + '/'
                    line = '  %-30s %s' % (where, licence)
                    if line not in found:
                        found.append(line)
    return found


RELEASES = """\
For Xen 4.1.x and 4.2.x; made from a Xen %(version)s tree.  These are the
releases with xend, tools/vtpm_manager and an xc_restore that reads the
length-prefixed device-model record."""


def _licence_paragraph(old, new):
    lines = new_file_licences(old, new)
    if not lines:
        return 'No new file.'
    return ('New files carry the licence of the part of Xen they join '
            '(SPDX):\n' + '\n'.join(lines))


PART_HEADER = """\
Description: %(title)s
%(body)s
 .
 Part %(n)d of %(total)d of vTPM migration for the Xen tools, applied in the
 order of the series file (quilt push, or patch -p1 one by one).
%(releases)s
 .
%(licence)s
---
%(stat)s

"""


def _indent_field(text):
    """A DEP-3 field's continuation lines: a space, a lone '.' for a blank."""
    return '\n'.join(' ' + line if line.strip() else ' .'
                     for line in text.splitlines())


def make_series(tree):
    """[(file name, text)]: the series for the pristine tree `tree`, one
    patch per part, each applying to the tree the ones before it made."""
    changes = plan(tree)
    version = xen_version(tree) or '4.1/4.2'
    stages = [stage(tree, changes, k) for k in range(-1, len(PARTS))]
    out = []
    for k, name in enumerate(part_names()):
        diff, stat = diff_stages(tree, stages[k], stages[k + 1])
        if not diff:
            raise SeriesError('%s: no change for this tree' % name)
        slug, title, body = PARTS[k]
        header = PART_HEADER % {
            'title': title, 'body': _indent_field(body), 'n': k + 1,
            'total': len(PARTS),
            'releases': _indent_field(RELEASES % {'version': version}),
            'licence': _indent_field(_licence_paragraph(stages[k],
                                                        stages[k + 1])),
            'stat': format_stat(stat)}
        out.append((name, header + diff))
    return out


def write_series(tree, directory):
    patches = make_series(tree)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    for name, text in patches:
        _write(os.path.join(directory, name), text, 0o644)
    _write(os.path.join(directory, 'series'),
           ''.join(name + '\n' for name, _ in patches), 0o644)
    return [name for name, _ in patches]


HEADER = """\
vTPM migration for the Xen tools (xend)

A guest's virtual TPM moves with the guest in xm migrate [--live] and stays
with it across xm save / xm restore.  Each vTPM is one swtpm process in dom0
(tools/hotplug/Linux/vtpm-swtpm); its state travels as one sealed, signed
record inside xend's own migration stream, written and read by vtpm_migrate
(tools/vtpm_manager/migration), which xend runs on the stream's descriptor
as it runs xc_save and xc_restore.  Administrator's guide:
docs/misc/vtpm-migration.txt; the record: docs/misc/vtpm-migration-record.txt;
vtpm_migrate(8).  The same change also comes as a series of %(parts)d
patches, one per part, for review.

%(releases)s
Apply to a pristine tree of that release with
    patch -p1 < vtpm-migration.patch        (or: quilt import)
then build as usual (make tools, make install-tools).  Needs OpenSSL >= 1.1.1
(libcrypto) to build and swtpm to run.  A host's vTPM backends stay with the
old vtpm_manager until its administrator switches that host
(docs/misc/vtpm-migration.txt, "Upgrading from the old vtpm_manager").

%(licence)s

%(stat)s
"""


def make_patch(tree):
    """The patch for the pristine tree `tree`, in one file."""
    changes = plan(tree)
    old = stage(tree, changes, -1)
    new = stage(tree, changes, len(PARTS) - 1)
    diff, stat = diff_stages(tree, old, new)
    releases = RELEASES % {'version': xen_version(tree) or '4.1/4.2'}
    return HEADER % {
        'releases': releases, 'parts': len(PARTS),
        'licence': _licence_paragraph(old, new),
        'stat': format_stat(stat)} + '\n' + diff


# ---- the size of each part --------------------------------------------------

WHOLE = 'vtpm-migration.patch'


def stat_rows(tree):
    """[(patch, path, added, removed)] for each part of the series and for
    the one-file patch (named WHOLE), against the pristine tree `tree`."""
    changes = plan(tree)
    stages = [stage(tree, changes, k) for k in range(-1, len(PARTS))]
    rows = []
    for k, name in enumerate(part_names()):
        for rel, a, r in diff_stages(tree, stages[k], stages[k + 1])[1]:
            rows.append((name, rel, a, r))
    for rel, a, r in diff_stages(tree, stages[0], stages[-1])[1]:
        rows.append((WHOLE, rel, a, r))
    return rows


def _n(value, sign=''):
    return sign + format(value, ',')


def format_size(version, rows):
    """The size table: files, added and removed lines of each part."""
    out = ['vTPM migration against Xen %s (apply-to-xen-tree.py --stat)'
           % version,
           '%-44s %5s %9s %9s' % ('patch', 'files', 'added', 'removed')]
    for name in part_names() + [WHOLE]:
        mine = [r for r in rows if r[0] == name]
        label = name if name != WHOLE else WHOLE + ' (--patch, all in one)'
        out.append('%-44s %5d %9s %9s' % (
            label, len(mine), _n(sum(r[2] for r in mine), '+'),
            _n(sum(r[3] for r in mine), '-')))
    return '\n'.join(out) + '\n'


# ---- command line ------------------------------------------------------------------

USAGE = ('usage: apply-to-xen-tree.py [--check] XEN_TREE\n'
         '       apply-to-xen-tree.py --patch PRISTINE_XEN_TREE '
         '> vtpm-migration.patch\n'
         '       apply-to-xen-tree.py --series DIR PRISTINE_XEN_TREE\n'
         '       apply-to-xen-tree.py --stat PRISTINE_XEN_TREE\n')


def _refuse(tree, e):
    sys.stderr.write('apply-to-xen-tree: %s is not a tree this patch '
                     'applies to (Xen 4.1.x or 4.2.x); nothing changed:\n'
                     % tree)
    for line in str(e).splitlines():
        sys.stderr.write('  missing: %s\n' % line)
    return 1


def _project_complete():
    absent = [os.path.relpath(src, PROJECT) for src, _ in copies()
              if not os.path.isfile(src)]
    if absent:
        return 'this project is incomplete, missing: %s' % ', '.join(absent)
    try:
        tree_makefile()
    except Missing as e:
        return 'this project is incomplete: %s' % e
    binary = binary_files(copies())
    if binary:
        return 'a patch carries no binary file: %s' % ', '.join(binary)
    return None


def main(argv):
    args = argv[1:]
    mode = series_dir = None
    if args and args[0] in ('--check', '--patch', '--stat'):
        mode = args[0]
        args = args[1:]
    elif args and args[0] == '--series' and len(args) == 3:
        mode, series_dir = args[0], args[1]
        args = args[2:]
    if len(args) != 1 or args[0].startswith('-'):
        sys.stderr.write(USAGE)
        return 2
    tree = args[0]
    if not os.path.isdir(tree):
        sys.stderr.write('apply-to-xen-tree: %s: not a directory\n' % tree)
        return 1
    problem = _project_complete()
    if problem:
        sys.stderr.write('apply-to-xen-tree: %s\n' % problem)
        return 1
    if already_applied(tree):
        if mode in ('--patch', '--series', '--stat'):
            sys.stderr.write('apply-to-xen-tree: %s already has vTPM '
                             'migration; %s needs a pristine tree\n'
                             % (tree, mode))
            return 1
        print('apply-to-xen-tree: %s already has vTPM migration; nothing '
              'changed' % tree)
        return 0
    try:
        if mode == '--patch':
            sys.stdout.write(make_patch(tree))
            return 0
        if mode == '--series':
            for name in write_series(tree, series_dir):
                print(os.path.join(series_dir, name))
            return 0
        if mode == '--stat':
            sys.stdout.write(format_size(xen_version(tree) or '4.1/4.2',
                                         stat_rows(tree)))
            return 0
        changes = plan(tree)
    except Missing as e:
        return _refuse(tree, e)
    except SeriesError as e:
        sys.stderr.write('apply-to-xen-tree: the series table: %s\n' % e)
        return 1
    before = stage(tree, changes, -1)
    after = stage(tree, changes, len(PARTS) - 1)
    touched = changed(before, after)
    for rel in touched:
        if before[rel][0] is not None and after[rel][0] is not None:
            print('edit    %s' % rel)
    for rel in touched:
        if after[rel][0] is None:
            print('remove  %s' % rel)
    for rel in touched:
        if before[rel][0] is None:
            print('copy    %s' % rel)
    if mode == '--check':
        print('apply-to-xen-tree: all anchors found; %d files would change'
              % len(touched))
        return 0
    apply(tree, changes)
    print('apply-to-xen-tree: applied to %s; review with git diff there'
          % tree)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
