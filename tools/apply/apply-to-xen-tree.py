#!/usr/bin/env python3
"""Apply vTPM migration to a Xen source tree of the xend era.

    apply-to-xen-tree.py [--check] XEN_TREE
    apply-to-xen-tree.py --patch PRISTINE_XEN_TREE > vtpm-migration.patch

Targets Xen 4.1.x and 4.2.x: the releases that have xend, the vTPM backend
(tools/vtpm_manager) and an xc_restore that reads the length-prefixed
device-model record (DeviceModelRecord0002).  Xen 4.0 lacks the latter;
4.3 removed tools/vtpm_manager; 4.5 removed xend.

What it does (all or nothing):
  - copies in the product only: the vtpm_migrate routines and their unit
    tests (MIGRATION_PRODUCT) with the folder's Xen-style Makefile
    (files/migration.Makefile, with the project Makefile's lists), the xend
    module (tools/python/xen/xend/server/vtpm_migration.py), the hotplug
    script (tools/hotplug/Linux/vtpm-swtpm), the admin guide
    (docs/misc/vtpm-migration.txt), the record format (docs/specs/) and the
    man page (docs/man/vtpm_migrate.pod.8);
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
reports.  --patch applies to a copy of a pristine tree and writes the
difference: one -p1 patch with a header, which `patch -p1` applies to that
release's pristine tree to give exactly what the script gives.
"""

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
        # Python 2's bare `raise` there re-raises the timeout of the 3 s read
        # of the destination's answer, hiding the reason save() failed.
        i = _find_stmt(lines, m0, m1, 'raise XendError("%s (from %s)" % '
                       '(m_dsterr.group(2), dst))', path, func)
        # A vTPM step's error already says what the destination answered;
        # the destination's own error then only says its stream broke.
        k = _find_stmt(lines, m0, i, 'if m_dsterr:', path, func, last=True)
        lines[k] = _line(lines[k], 'if m_dsterr and not isinstance(ex, '
                         'vtpm_migration.VtpmMigrationError):')
        j = i + 1
        while _blank(lines[j]):
            j += 1
        if not lines[j].strip().startswith('raise'):
            raise Missing("%s: %s() does not re-raise after the destination's "
                          "answer" % (path, func))
        lines[j] = _line(lines[j], 'raise ex')
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


def _ignore_edit(after, line):
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
    return edit


def check_restore_reads_dm_length(path, text):
    if 'DeviceModelRecord0002' not in text:
        raise Missing("%s: no 'DeviceModelRecord0002': this xc_restore reads "
                      "the device model record to end of stream, leaving no "
                      "room for the vTPM record (Xen 4.1 or later needed)"
                      % path)
    return text


EDITS = (
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
    ('.gitignore', _ignore_edit('tools/vtpm_manager/manager/vtpm_managerd',
                                'tools/vtpm_manager/migration/build/')),
    ('.hgignore', _ignore_edit('^tools/vtpm_manager/manager/vtpm_managerd$',
                               '^tools/vtpm_manager/migration/build/.*$')),
)


# ---- files copied in -----------------------------------------------------------

def _read(path):
    f = open(path)
    try:
        return f.read()
    finally:
        f.close()


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
        (os.path.join(PROJECT, 'docs/misc/vtpm-migration.txt'),
         'docs/misc/vtpm-migration.txt'),
    ]
    # Man pages, named as Xen names its own (docs/man/NAME.pod.SECTION).
    for src in sorted(glob.glob(os.path.join(PROJECT, 'docs/man/*.8.pod'))):
        name = os.path.basename(src)[:-len('.8.pod')]
        pairs.append((src, 'docs/man/%s.pod.8' % name))
    specs = os.path.join(PROJECT, 'docs', 'specs')
    if os.path.isdir(specs):
        for name in sorted(os.listdir(specs)):
            if os.path.isfile(os.path.join(specs, name)):
                pairs.append((os.path.join(specs, name),
                              os.path.join('docs', 'specs', name)))
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


def shared_lists(project):
    """The lists block of the tree's Makefile: PROGS, each program's own
    sources (PROG_SRCS) and LIB_SRCS, as the project's Makefile has them."""
    progs = make_list(project, 'PROGS')
    block = _format_list('PROGS', progs)
    for prog in progs:
        srcs = make_list(project, prog + '_SRCS', required=False)
        if srcs:
            block += _format_list(prog + '_SRCS', srcs)
    return block + _format_list('LIB_SRCS', make_list(project, 'LIB_SRCS'))


def tree_makefile():
    """The folder's Makefile in a Xen tree, with the project's lists in
    place of the template's (from its PROGS line to its LIB_SRCS)."""
    project = _read(os.path.join(PROJECT, MIGRATION, 'Makefile'))
    text = _read(TREE_MAKEFILE)
    start = _assignment('PROGS').search(text)
    end = _assignment('LIB_SRCS').search(text)
    if not start or not end or end.end() < start.start():
        raise Missing('%s: no PROGS ... LIB_SRCS block' % TREE_MAKEFILE)
    return (text[:start.start()] + shared_lists(project) +
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


# ---- plan and apply ------------------------------------------------------------

def _edits(tree):
    edits = list(EDITS)
    tools_mk = os.path.join(tree, 'tools/Makefile')
    if os.path.isfile(tools_mk) and not re.search(r'^uninstall:',
                                                  _read(tools_mk), re.M):
        edits.append(('Makefile', edit_top_makefile))
    return edits


def plan(tree):
    """Compute every change; raise Missing listing every absent anchor."""
    missing = []
    changes = []
    for rel, edit in _edits(tree):
        path = os.path.join(tree, rel)
        if not os.path.isfile(path):
            missing.append('%s: file not found' % rel)
            continue
        text = _read(path)
        try:
            new = edit(rel, text)
        except Missing as e:
            missing.append(str(e))
            continue
        if new != text:
            changes.append((rel, new))
    if not os.path.isdir(os.path.join(tree, 'tools/vtpm_manager')):
        missing.append('tools/vtpm_manager: folder not found')
    if missing:
        raise Missing('\n'.join(missing))
    for rel, edit in OPTIONAL_EDITS:
        path = os.path.join(tree, rel)
        if os.path.isfile(path):
            text = _read(path)
            new = edit(rel, text)
            if new != text:
                changes.append((rel, new))
    changes.append((os.path.join(MIGRATION, 'Makefile'), tree_makefile()))
    removals = [os.path.join(MIGRATION, n) for n in OLD_MIGRATION_FILES
                if os.path.exists(os.path.join(tree, MIGRATION, n))]
    return changes, copies(), removals


def already_applied(tree):
    path = os.path.join(tree, 'tools/python/xen/xend/XendCheckpoint.py')
    return os.path.isfile(path) and MARK in _read(path)


def apply(tree, changes, pairs, removals):
    for rel in removals:
        os.remove(os.path.join(tree, rel))
    for src, rel in pairs:
        dst = os.path.join(tree, rel)
        d = os.path.dirname(dst)
        if not os.path.isdir(d):
            os.makedirs(d)
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
    for rel, text in changes:
        path = os.path.join(tree, rel)
        mode = 0o644
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o7777
        tmp = path + '.vtpm-tmp'
        f = open(tmp, 'w')
        try:
            f.write(text)
        finally:
            f.close()
        os.chmod(tmp, mode)
        os.rename(tmp, path)


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


def _git_mode(path):
    return '100755' if os.stat(path).st_mode & 0o111 else '100644'


def file_diff(rel, old, new):
    """One file's change as a git-style unified diff (patch -p1 reads the
    mode lines; a plain diff would create every file 0644)."""
    out = ['diff --git a/%s b/%s\n' % (rel, rel)]
    a, b = 'a/' + rel, 'b/' + rel
    if old is None:
        out.append('new file mode %s\n' % _git_mode(new))
        old, a = os.devnull, os.devnull
    elif new is None:
        out.append('deleted file mode %s\n' % _git_mode(old))
        new, b = os.devnull, os.devnull
    elif _git_mode(old) != _git_mode(new):
        out.append('old mode %s\nnew mode %s\n' % (_git_mode(old),
                                                   _git_mode(new)))
    p = subprocess.Popen(['diff', '-u', '--label', a, '--label', b, old, new],
                         stdout=subprocess.PIPE)
    body = p.communicate()[0]
    if p.returncode > 1:
        raise OSError('diff failed on %s' % rel)
    return ''.join(out), body


HEADER = """\
vTPM migration for the Xen tools (xend)

A guest's virtual TPM moves with the guest in xm migrate [--live] and stays
with it across xm save / xm restore.  Each vTPM is one swtpm process in dom0
(tools/hotplug/Linux/vtpm-swtpm); its state travels as one sealed, signed
record inside xend's own migration stream, written and read by vtpm_migrate
(tools/vtpm_manager/migration), which xend runs on the stream's descriptor
as it runs xc_save and xc_restore.  Administrator's guide:
docs/misc/vtpm-migration.txt; the record: docs/specs/; vtpm_migrate(8).

For Xen 4.1.x and 4.2.x; made from a Xen %(version)s tree.  Apply to a
pristine tree of that release with
    patch -p1 < vtpm-migration.patch        (or: quilt import)
then build as usual (make tools, make install-tools).  Needs OpenSSL >= 1.1.1
(libcrypto) to build and swtpm to run.  A host's vTPM backends stay with the
old vtpm_manager until its administrator switches that host
(docs/misc/vtpm-migration.txt, "Upgrading from the old vtpm_manager").

%(stat)s
"""


def make_patch(tree):
    """The patch for the pristine tree `tree`: apply to a copy, diff."""
    tmp = tempfile.mkdtemp(prefix='vtpm-patch-')
    try:
        copy = os.path.join(tmp, 'b')
        shutil.copytree(tree, copy, symlinks=True,
                        ignore=shutil.ignore_patterns('.git', '.hg'))
        changes, pairs, removals = plan(copy)
        apply(copy, changes, pairs, removals)
        rels = sorted(set([r for r, _ in changes] + [r for _, r in pairs] +
                          removals))
        diffs, stat = [], []
        added = removed = 0
        for rel in rels:
            old = os.path.join(tree, rel)
            new = os.path.join(copy, rel)
            head, body = file_diff(rel, old if os.path.exists(old) else None,
                                   new if os.path.exists(new) else None)
            text = body.decode('utf-8')
            plus = minus = 0
            for line in text.splitlines():
                if line.startswith('+') and not line.startswith('+++ '):
                    plus += 1
                elif line.startswith('-') and not line.startswith('--- '):
                    minus += 1
            added += plus
            removed += minus
            stat.append(' %-60s +%d -%d' % (rel, plus, minus))
            diffs.append(head + text)
        stat.append(' %d files changed, %d insertions(+), %d deletions(-)'
                    % (len(rels), added, removed))
        header = HEADER % {'version': xen_version(tree) or '4.1/4.2',
                           'stat': '\n'.join(stat)}
        return header + '\n' + ''.join(diffs)
    finally:
        shutil.rmtree(tmp)


# ---- command line ------------------------------------------------------------------

USAGE = ('usage: apply-to-xen-tree.py [--check] XEN_TREE\n'
         '       apply-to-xen-tree.py --patch PRISTINE_XEN_TREE '
         '> vtpm-migration.patch\n')


def _refuse(tree, e):
    sys.stderr.write('apply-to-xen-tree: %s is not a tree this patch '
                     'applies to (Xen 4.1.x or 4.2.x); nothing changed:\n'
                     % tree)
    for line in str(e).splitlines():
        sys.stderr.write('  missing: %s\n' % line)
    return 1


def main(argv):
    args = argv[1:]
    mode = None
    if args and args[0] in ('--check', '--patch'):
        mode = args[0]
        args = args[1:]
    if len(args) != 1 or args[0].startswith('-'):
        sys.stderr.write(USAGE)
        return 2
    tree = args[0]
    if not os.path.isdir(tree):
        sys.stderr.write('apply-to-xen-tree: %s: not a directory\n' % tree)
        return 1
    absent = [os.path.relpath(src, PROJECT) for src, _ in copies()
              if not os.path.isfile(src)]
    if absent:
        sys.stderr.write('apply-to-xen-tree: this project is incomplete, '
                         'missing: %s\n' % ', '.join(absent))
        return 1
    try:
        tree_makefile()
    except Missing as e:
        sys.stderr.write('apply-to-xen-tree: this project is incomplete: '
                         '%s\n' % e)
        return 1
    binary = binary_files(copies())
    if binary:
        sys.stderr.write('apply-to-xen-tree: a patch carries no binary '
                         'file: %s\n' % ', '.join(binary))
        return 1
    if already_applied(tree):
        if mode == '--patch':
            sys.stderr.write('apply-to-xen-tree: %s already has vTPM '
                             'migration; --patch needs a pristine tree\n'
                             % tree)
            return 1
        print('apply-to-xen-tree: %s already has vTPM migration; nothing '
              'changed' % tree)
        return 0
    try:
        if mode == '--patch':
            sys.stdout.write(make_patch(tree))
            return 0
        changes, pairs, removals = plan(tree)
    except Missing as e:
        return _refuse(tree, e)
    for rel, _ in changes:
        print('edit    %s' % rel)
    for rel in removals:
        print('remove  %s' % rel)
    for _, rel in pairs:
        print('copy    %s' % rel)
    if mode == '--check':
        print('apply-to-xen-tree: all anchors found; %d files would change'
              % (len(changes) + len(pairs) + len(removals)))
        return 0
    apply(tree, changes, pairs, removals)
    print('apply-to-xen-tree: applied to %s; review with git diff there'
          % tree)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
