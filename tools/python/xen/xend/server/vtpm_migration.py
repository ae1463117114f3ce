#============================================================================
# This library is free software; you can redistribute it and/or
# modify it under the terms of version 2.1 of the GNU Lesser General Public
# License as published by the Free Software Foundation.
#============================================================================

"""vTPM migration for xend: the helper vtpm_migrate runs on the migration
stream's fd, as xc_save and xc_restore do, from one call per step; what
each does, and why: docs/misc/vtpm-migration.txt.  Python 2.6+ and 3.x."""

import fcntl
import os
import re
import socket
import struct
import termios
import threading
import time

from xen.util.xpopen import xPopen3
from xen.xend import XendOptions
from xen.xend.XendError import XendError
from xen.xend.XendLogging import log

class VtpmMigrationError(XendError):
    """A refused or failed vTPM step; the message says what and why."""

OPT_ENABLE = 'vtpm-migration'
OPT_KEY_DIR = 'vtpm-migration-key-dir'
OPT_ROLLBACK = 'vtpm-migration-allow-rollback'
OPT_PLAIN = 'vtpm-migration-plain-relocation'
OPT_HELPER = 'vtpm-migration-helper'
OPT_TIMEOUT = 'vtpm-migration-timeout'
DEFAULTS = {OPT_ENABLE: 'no', OPT_KEY_DIR: '/var/lib/xen/vtpm-migration',
            OPT_ROLLBACK: 'no', OPT_PLAIN: 'no',
            OPT_HELPER: '/usr/sbin/vtpm_migrate', OPT_TIMEOUT: '60'}

QEMU_SAVE_PATH = '/var/lib/xen/qemu-save.%d'
SWITCH = '/etc/xen/vtpm-swtpm.conf'   # the host runs vTPMs in swtpm
DM_SIGNATURE = b'DeviceModelRecord0002'
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$')
ERR_RE = re.compile(r"^\(err\s\(type\s(.+)\)\s\(value\s'(.+)'\)\)")

# Per domid: what became of the vTPM (_state), send --check's answers, the
# staged helper waiting for its word, the relocation connection to answer;
# per relocation thread: that connection and the record it announced.
_state, _checked, _staged, _answer = {}, {}, {}, {}
_deleting = set()
_relocation = threading.local()

def _enabled(what):
    if not _flag(OPT_ENABLE):
        raise VtpmMigrationError(
            "%s refused: vTPM migration is disabled on this host: set up "
            "keys (vtpm_migrate(8)), then (%s yes) in xend-config.sxp"
            % (what, OPT_ENABLE))

def _opt(name):
    return str(XendOptions.instance().get_config_string(name, DEFAULTS[name]))

def _flag(name):
    return XendOptions.instance().get_config_bool(name, DEFAULTS[name])

def _timeout():
    return XendOptions.instance().get_config_int(OPT_TIMEOUT,
                                                 DEFAULTS[OPT_TIMEOUT])

def _text(data):
    return data if isinstance(data, str) else data.decode('utf-8', 'replace')

def _printable(text):
    return ''.join([(c if ' ' <= c <= '~' else '?') for c in text])[:300]

def _vtpm_uuids(dominfo):
    return [str(item[1]) for (kind, sxpr) in dominfo.info.all_devices_sxpr()
            if kind == 'vtpm' for item in sxpr[1:]
            if isinstance(item, (list, tuple)) and item[0] == 'uuid']

def _instance(dominfo, bound=True):
    """--domid and, to bind the record, the UUID xend holds (never the
    guest-writable /local/domain/D/vm).  The helper refuses two vTPMs."""
    argv = ['--domid', str(dominfo.getDomid())]
    return bound and argv + ['--domain-uuid', str(dominfo.info['uuid'])] \
        or argv

def peer_name(dst, network):
    """The key name of a destination: 'self' for a save file or this host
    (its own name, or one that resolves to loopback only); the helper
    refuses a name that cannot be a key name."""
    name = str(dst).strip()
    if not network or name.lower() in (socket.gethostname().lower(),
                                       socket.getfqdn().lower()):
        return 'self'
    try:
        addrs = [a[4][0] for a in socket.getaddrinfo(name, None)]
    except (socket.error, UnicodeError):
        addrs = []
    local = addrs and all([a.startswith('127.') or a == '::1' for a in addrs])
    return local and 'self' or name

class _Helper(object):
    """A running program (vtpm_migrate ARGS), the stream fd (if any) passed
    on; no shell."""

    def __init__(self, args, fd=None, argv0=None):
        argv = [argv0 or _opt(OPT_HELPER)] + args
        if fd is not None:   # xend marks the stream close-on-exec
            argv += ['--fd', str(fd)]
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            fcntl.fcntl(fd, fcntl.F_SETFD, flags & ~fcntl.FD_CLOEXEC)
        log.debug("[vtpm]: %s", ' '.join(argv))
        self.what = '%s %s' % (os.path.basename(argv[0]), args[0])
        try:
            self.child = xPopen3(argv, True, -1, fd is not None and [fd] or [])
        finally:
            if fd is not None:
                fcntl.fcntl(fd, fcntl.F_SETFD, flags)

    def say(self, word, expect):
        """Staged mode: a word to the helper (if any), its word back."""
        try:
            if word:
                self.child.tochild.write(word + '\n')
                self.child.tochild.flush()
        except (IOError, OSError):
            pass
        if self.child.fromchild.readline().strip() != expect:
            self.finish()
            raise VtpmMigrationError("%s failed: no '%s' after '%s'"
                                     % (self.what, expect, word))

    def finish(self):
        """Its exit status; a failure raises with the helper's one line."""
        self.child.tochild.close()
        out = self.child.fromchild.read()
        err = _text(self.child.childerr.read()).strip().splitlines()
        status = self.child.wait()
        if status == 0:
            return _text(out)
        if os.WIFSIGNALED(status):
            reason = 'killed by signal %d' % os.WTERMSIG(status)
        else:
            reason = err and _printable(err[0]) or \
                'exit status %d' % os.WEXITSTATUS(status)
        raise VtpmMigrationError("%s failed: %s" % (self.what, reason))

def _rollback():
    return _flag(OPT_ROLLBACK) and ['--allow-rollback'] or []

def _run(args, fd=None):
    return _Helper(args, fd).finish()

def _stage(domid, args, fd):
    """A staged helper prepares all it can before the guest stops."""
    _end_stage(domid)
    _staged[domid] = _Helper(args + ['--staged'], fd)
    _staged[domid].say(None, 'ready')

def _last_word(domid, word):
    helper = _staged.pop(domid)   # _stage ran before the image
    helper.say(word, 'done')
    helper.finish()

def _end_stage(domid):
    """No last word for it: on end of input it writes or loads nothing."""
    if domid in _staged:
        try:
            _staged.pop(domid).finish()
        except VtpmMigrationError:
            pass

def _check(dominfo, network, dst):
    """send --check, once per save: every check send makes, TPM untouched."""
    domid = dominfo.getDomid()
    if domid not in _checked:
        _enabled("vTPM migration")
        name = peer_name(dst, network)
        out = _run(['send', '-d', _opt(OPT_KEY_DIR), '--to', name,
                    '--check'] + _instance(dominfo))
        answers = dict([l.split(' ', 1) for l in out.splitlines() if ' ' in l])
        answers['to'] = name
        answers['file'] = not network and dst or None
        _checked[domid] = answers
    return _checked[domid]

def check_before_open(dominfo, dst, checkpoint=False, network=False):
    """XendDomain.domain_save, before it opens (and truncates) the file, and
    a migration's step 0: a fresh check."""
    _checked.pop(dominfo.getDomid(), None)
    check_before_save(dominfo, network, dst, checkpoint)

def check_before_save(dominfo, network, dst, checkpoint=False):
    """Refuse before a byte is sent, with the helper's own reason."""
    if not _vtpm_uuids(dominfo):
        return
    try:
        if checkpoint and not _flag(OPT_ROLLBACK):
            raise VtpmMigrationError(
                "a checkpoint (xm save -c) keeps the vTPM running while its "
                "state sits in the file: restoring it would roll the TPM "
                "back; refused (see %s)" % OPT_ROLLBACK)
        _state.pop(dominfo.getDomid(), None)
        _check(dominfo, network, dst)
    except VtpmMigrationError as e:
        _checked.pop(dominfo.getDomid(), None)
        log.error("vTPM of %s: %s", dominfo.getName(), e)
        raise VtpmMigrationError("vTPM: %s" % e)

def device_migrate(controller, deviceConfig, network, dst, step, domName):
    """TPMifController.migrate: step 0 checks; at step 3 (suspended, xc_save
    may still write) the staged sender pulls and seals in memory."""
    domid = controller.vm.getDomid()
    if network and step == 0:
        check_before_open(controller.vm, dst, False, network)
    elif step == 3 and domid in _staged:
        _staged[domid].say('pull', 'sealed')
    return 0

def _reply(sock, timeout):
    """One line from the relocation connection (None if none came), and
    the reason when it is xend's (err ...)."""
    data, old, deadline = '', sock.gettimeout(), time.time() + timeout
    try:
        while not data.endswith('\n'):
            sock.settimeout(max(deadline - time.time(), 0.001))
            data += _text(sock.recv(1024)) or '\n'
    except Exception:
        data = ''
    sock.settimeout(old)
    m = ERR_RE.match(data.strip())
    return data.strip() or None, m and m.group(2)

def ask_destination(dominfo, dst, sock, ssl):
    """XendDomain._domain_migrate*, before "receive": would it take it?"""
    if not _vtpm_uuids(dominfo):
        return
    check = _check(dominfo, True, dst)
    if not ssl and check['to'] != 'self' and not _flag(OPT_PLAIN):
        raise VtpmMigrationError(
            "vTPM migration to '%s' refused: plain relocation neither hides "
            "nor authenticates the guest image, so a man in the middle could "
            "run his own image with this TPM; use xm migrate --ssl, or set "
            "(%s yes) to accept that risk" % (_printable(dst), OPT_PLAIN))
    ask = "(vtpm_check (sender %s) (vtpm %s) (generation %s) (tpm %s))\n" % (
        check.get('sender'), check.get('vtpm-uuid'), check.get('generation'),
        check.get('tpm-version'))
    sock.sendall(ask.encode('ascii'))
    line, reason = _reply(sock, 30)
    if line is None or not line.startswith('(ok'):
        _checked.pop(dominfo.getDomid(), None)
        reason = reason or 'no answer (is vTPM migration installed there?)'
        log.error("vTPM of %s refused by %s: %s", dominfo.getName(), dst,
                  reason)
        raise VtpmMigrationError("vTPM migration refused by %s: %s"
                                 % (dst, reason))

def save_before_image(fd, dominfo, network, dst):
    """XendCheckpoint.save, before xc_save starts: the sender gets ready."""
    if _vtpm_uuids(dominfo):
        _stage(dominfo.getDomid(), ['send', '-d', _opt(OPT_KEY_DIR), '--to',
                                    _check(dominfo, network, dst)['to']] +
               _instance(dominfo), fd)

def _write_device_model_record(fd, domid):
    """HVM: the device model, length-prefixed (the legacy form is read to
    end of stream, leaving no room for the vTPM record after it)."""
    path = QEMU_SAVE_PATH % domid
    if os.path.exists(path):
        with open(path, 'rb') as f:
            data = f.read()
        data = DM_SIGNATURE + struct.pack('=I', len(data)) + data
        while data:
            data = data[os.write(fd, data):]
        os.remove(path)

def save_after_image(fd, dominfo, network, dst, checkpoint=False, sock=None):
    """XendCheckpoint.save, after xc_save: write, then await the verdict."""
    if not _vtpm_uuids(dominfo):
        return
    domid = dominfo.getDomid()
    if dominfo.info.is_hvm():
        _write_device_model_record(fd, domid)
    start = time.time()
    _last_word(domid, 'write')
    _state[domid] = 'left'
    log.info("vTPM of domain %d sealed to '%s' and written in %.1f ms.",
             domid, _check(dominfo, network, dst)['to'],
             (time.time() - start) * 1000.0)
    if checkpoint:
        # a copy by design (rollback allowed): the vTPM goes on here
        _run(['recover', '--force'] + _instance(dominfo, False))
        _state.pop(domid, None)
        _checked.pop(domid, None)
    elif network and sock is not None:
        _await_verdict(dominfo, fd, sock, dst)

def _await_verdict(dominfo, fd, sock, dst):
    if fd != sock.fileno():
        _drained(fd)
    line, reason = _reply(sock, _timeout())
    domid = dominfo.getDomid()
    if line and line.startswith('(vtpm-accepted'):
        _state[domid] = 'accepted'
    elif reason:
        _state[domid] = 'refused'
        _run(['recover', '--force'] + _instance(dominfo, False))
        raise VtpmMigrationError("%s (from %s); the guest and its vTPM go on "
                                 "here" % (reason, dst))
    else:
        raise VtpmMigrationError(
            "no verdict on the vTPM from %s (connection lost or timed out): "
            "it left this host and may run there, so it stays stopped here; "
            "if the guest does not run on %s, 'vtpm_migrate recover --force "
            "--domid %d' (vtpm_migrate(8))" % (dst, dst, domid))

def _drained(fd):
    """SSL: let xend's relay thread empty the pipe before the answer is read
    from the same SSL object."""
    deadline = time.time() + 30
    while time.time() < deadline and struct.unpack('i', fcntl.ioctl(
            fd, termios.FIONREAD, struct.pack('i', 0)))[0]:
        time.sleep(0.01)
    time.sleep(0.05)

def finish_after_success(dominfo):
    """XendCheckpoint.save, before destroy(): never two live vTPMs."""
    if not _vtpm_uuids(dominfo):
        return
    domid = dominfo.getDomid()
    _checked.pop(domid, None)
    try:
        _run(['finish'] + _instance(dominfo, False))
        _state[domid] = 'finished'
        log.info("vTPM of domain %d shut down and its state deleted.", domid)
    except VtpmMigrationError as e:
        log.error("%s; it left this host: the record holds it (see "
                  "vtpm_migrate(8), finish)", e)

def recover_after_failure(dominfo):
    """XendCheckpoint.save's error path, before resumeDomain(); raising
    keeps the guest suspended when its vTPM was handed over."""
    domid = dominfo.getDomid()
    _end_stage(domid)
    state = _state.pop(domid, None)
    saved = _checked.pop(domid, {}).get('file')
    if not _vtpm_uuids(dominfo) or state == 'refused':
        return
    if state in ('accepted', 'finished'):
        raise VtpmMigrationError("vTPM of domain %d already handed over "
                                 "(%s): the guest is not resumed here"
                                 % (domid, state))
    if saved and state is None and os.path.isfile(saved):
        os.remove(saved)    # an image without its vTPM record never restores
        log.error("vTPM: the incomplete save file %s was removed", saved)
    try:
        _run(['recover'] + _instance(dominfo, False))
        log.info("vTPM of domain %d recovered on the source.", domid)
    except VtpmMigrationError as e:
        log.error("%s", e)

def op_vtpm_check(protocol, req):
    """relocate.py's op_vtpm_check: would this host accept that record?  The
    domain restored next on this connection answers to protocol."""
    fields = dict([(item[0], str(item[1])) for item in req[1:]
                   if isinstance(item, (list, tuple)) and len(item) == 2])
    _enabled("vTPM migration to this host")
    announced = ['--sender', fields.get('sender', ''),
                 '--generation', fields.get('generation', '')]
    args = ['recv', '-d', _opt(OPT_KEY_DIR), '--check', '--uuid',
            fields.get('vtpm', '')] + announced
    if fields.get('tpm') in ('2', '1.2'):
        args += ['--tpm-version', fields['tpm']]
    _run(args + _rollback())
    _relocation.check = (protocol, announced)   # accepted early by recv
    return ['vtpm', 'ok']

def restore_before_image(fd, dominfo, relocating=False):
    """XendCheckpoint.restore, before xc_restore: the receiver gets ready."""
    protocol, announced = getattr(_relocation, 'check', None) or (None, [])
    _relocation.check = None
    if not _vtpm_uuids(dominfo):
        return
    domid = dominfo.getDomid()
    _answer[domid] = (relocating, protocol)
    _enabled("vTPM restore")
    _stage(domid, ['recv', '-d', _opt(OPT_KEY_DIR), '--timeout',
                   str(_timeout())] + _rollback() + announced +
           _instance(dominfo), fd)

def restore_after_image(fd, dominfo):
    """XendCheckpoint.restore, after xc_restore: load, tell the source."""
    if not _vtpm_uuids(dominfo):
        return
    domid = dominfo.getDomid()
    relocating, protocol = _answer.pop(domid, (False, None))
    start = time.time()
    _state[domid] = relocating and 'relocating' or 'restoring'
    _last_word(domid, 'go')
    _state.pop(domid, None)
    log.info("vTPM of domain %d received and running (%.1f ms).", domid,
             (time.time() - start) * 1000.0)
    if protocol is not None:
        protocol.send_reply(['vtpm-accepted'])

def keep_after_failure(dominfo, exn):
    """XendCheckpoint.restore's error path: a domain restored from a file
    whose vTPM record was refused waits paused instead of being lost."""
    domid = dominfo.getDomid()
    _end_stage(domid)
    _answer.pop(domid, None)
    if _state.pop(domid, None) != 'restoring' or \
            not isinstance(exn, VtpmMigrationError):
        return
    msg = ("%s; domain %d is kept paused: fix the cause, load the kept "
           "record with 'vtpm_migrate recv --domid %d --domain-uuid %s < "
           "FILE', then 'xm unpause %d'; or 'xm destroy %d'"
           % (exn, domid, domid, dominfo.info['uuid'], domid, domid))
    log.error("%s", msg)
    raise VtpmMigrationError(msg)

def deleting_config(dominfo):
    """xm delete: the one path that deletes vTPM state (xend's delete path
    also runs for failed restores and migrations)."""
    _deleting.update(_vtpm_uuids(dominfo))

def destroy_state(uuids, script):
    """tpmif.destroy_vtpmstate: SCRIPT delete UUID (no shell).  The Xen
    API's VTPM.destroy passes a halted domain's name.  A host that has not
    switched to swtpm (no vtpm-swtpm.conf) keeps the old vtpm-delete."""
    cmd = [script, 'delete']
    if not os.path.exists(os.environ.get('VTPM_SWTPM_CONF', SWITCH)):
        cmd = [os.path.join(os.path.dirname(script), 'vtpm-delete')]
    if not isinstance(uuids, (list, tuple)):
        uuids = uuids and [uuids] or []
        if uuids and not UUID_RE.match(str(uuids[0])):
            from xen.xend import XendDomain
            dominfo = XendDomain.instance().domain_lookup_nr(uuids[0])
            uuids = dominfo and _vtpm_uuids(dominfo) or []
            _deleting.update(uuids)
    for uuid in uuids:
        if uuid not in _deleting or not UUID_RE.match(str(uuid)):
            log.info("vTPM %s: state kept (only xm delete of the domain's "
                     "configuration deletes it)", _printable(str(uuid)))
            continue
        _deleting.discard(uuid)
        try:
            _Helper(cmd[1:] + [str(uuid)], argv0=cmd[0]).finish()
        except VtpmMigrationError as e:
            log.error("vTPM: %s (%s)", e, uuid)
