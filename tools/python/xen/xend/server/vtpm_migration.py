#============================================================================
# This library is free software; you can redistribute it and/or
# modify it under the terms of version 2.1 of the GNU Lesser General Public
# License as published by the Free Software Foundation.
#============================================================================

"""vTPM migration for xend: vtpm_migrate runs on the stream's fd as xc_save
does; XendCheckpoint holds a _Vtpm and passes it to each step.  Why each
step: docs/misc/vtpm-migration.txt.  Python 2.6+ and 3.x."""

import fcntl
import os
import re
import select
import signal
import socket
import struct
import termios
import threading
import time

from xen.util import auxbin
from xen.util.xpopen import xPopen3
from xen.xend import XendOptions, sxp
from xen.xend.XendError import XendError
from xen.xend.XendLogging import log

SWITCH = '/etc/xen/vtpm-swtpm.conf'   # this host runs its vTPMs in swtpm
ERR_RE = re.compile(r"^\(err\s\(type\s(.+)\)\s\(value\s'(.+)'\)\)")

xoptions = XendOptions.instance()

# The one state no argument carries: a relocation client's announcement is
# for the restore its connection (a thread of its own in xend) starts next.
_relocation = threading.local()

class VtpmMigrationError(XendError):
    """A refused or failed vTPM step; the message says what and why."""

class _Vtpm(object):
    """One vTPM's way through XendCheckpoint.save or restore."""
    def __init__(self, dominfo, **kw):
        self.dominfo, self.domid = dominfo, dominfo.getDomid()
        self.helper = self.state = self.kept = None
        self.__dict__.update(kw)

def opted_in():
    """Only swtpm vTPMs move: before the switch xend's paths are kept."""
    return os.path.exists(SWITCH)

def _enabled(what):
    if not (opted_in() and xoptions.get_config_bool('vtpm-migration', 'no')):
        raise VtpmMigrationError("%s refused: vTPM migration is disabled on "
            "this host (the guest would lose its TPM): set up keys "
            "(vtpm_migrate(8)), then (vtpm-migration yes)" % what)

def _timeout():
    return xoptions.get_config_int('vtpm-migration-timeout', 60)

def _rollback():
    return xoptions.get_config_bool('vtpm-migration-allow-rollback', 'no') \
        and ['--allow-rollback'] or []

def _text(data):
    return data if isinstance(data, str) else data.decode('utf-8', 'replace')

def _moves(dominfo):
    """The UUIDs of the domain's vTPMs, if they move (the host switched)."""
    return opted_in() and [str(i[1]) for (kind, sxpr) in
                           dominfo.info.all_devices_sxpr() if kind == 'vtpm'
                           for i in sxpr[1:] if isinstance(i, (list, tuple))
                           and i[0] == 'uuid']

def _instance(dominfo):
    """Bound to the domain UUID xend holds, never to /local/domain/D/vm."""
    return ['--domid', str(dominfo.getDomid()), '--domain-uuid',
            str(dominfo.info['uuid'])]

def peer_name(dst, network):
    """A destination's key name; 'self' for a file or this host."""
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

def _argv(args):
    """vtpm_migrate CMD -d KEY-DIR ARGS, found as xend finds xc_save."""
    path = xoptions.get_config_string('vtpm-migration-helper', None) or \
        auxbin.pathTo('vtpm_migrate') or 'vtpm_migrate'
    return [path, args[0], '-d', xoptions.get_config_string(
        'vtpm-migration-key-dir', '/var/lib/xen/vtpm-migration')] + args[1:]

class _Helper(object):
    """A program run as forkHelper runs xc_save, bounded by the timeout."""
    def __init__(self, argv, fd=None):
        log.debug("[vtpm]: %s", ' '.join(argv))
        self.what = '%s %s' % (os.path.basename(argv[0]), argv[1])
        self.out, self.err, self.expired, self.why = '', [], False, None
        self.child = xPopen3(argv, True, -1, fd is not None and [fd] or [])
        self.thread = threading.Thread(target=self._slurp)
        self.thread.daemon = True    # a stray holder of its stderr
        self.thread.start()
    def _slurp(self):
        for line in iter(self.child.childerr.readline, ''):
            self.err += line.strip() and [line.strip()] or []
    def _read(self, deadline):
        """Its next output; False at its end, or past the deadline."""
        fd = self.child.fromchild.fileno()
        if not select.select([fd], [], [], max(0, deadline - time.time()))[0]:
            self.expired = True
            os.kill(self.child.pid, signal.SIGKILL)
            return False
        data = os.read(fd, 4096)
        self.out += _text(data)
        return len(data) > 0
    def say(self, word, expect):
        """--staged: WORD to it (None: only listen), EXPECT back in time."""
        try:
            self.child.tochild.write(word and word + '\n' or '')
            self.child.tochild.flush()
        except (IOError, OSError):
            pass
        deadline = time.time() + _timeout()
        while '\n' not in self.out and self._read(deadline):
            pass
        line, _, self.out = self.out.partition('\n')
        if line.strip() != expect:
            self.finish()
            raise VtpmMigrationError("%s: no '%s' after '%s'"
                                     % (self.what, expect, word))
    def finish(self):
        """Its output if it ended well; else raise with its reason."""
        if self.why is None:    # not ended yet (xend may have reaped it)
            try:
                self.child.tochild.close()
            except (IOError, OSError):
                pass
            deadline = time.time() + _timeout()
            while self._read(deadline):
                pass
            self.thread.join(max(0, deadline - time.time()))
            self.why = self._why(self.child.wait())
            self.child.fromchild.close()
            if not self.thread.is_alive():
                self.child.childerr.close()
        if self.why:
            raise VtpmMigrationError(self.why)
        return self.out
    def _why(self, status):
        if self.expired:
            return self.what + ': no answer within %d s; stopped' % _timeout()
        if os.WIFSIGNALED(status):
            return self.what + ': killed by signal %d' % os.WTERMSIG(status)
        return status and (self.err and self.err[0] or '%s: exit status %d'
                           % (self.what, os.WEXITSTATUS(status)))

def _run(args):
    return _Helper(_argv(args)).finish()

def _stage(vtpm, args, fd):
    """Ready before the guest stops; no last word: nothing written."""
    vtpm.helper = _Helper(_argv(args + ['--staged', '--fd', str(fd),
                                        '--timeout', str(_timeout())]), fd)
    vtpm.helper.say(None, 'ready')

def _last_word(vtpm, word):
    vtpm.helper.say(word, 'done')
    vtpm.helper.finish()

def _end_stage(vtpm):
    try:
        vtpm.helper and vtpm.helper.finish()
    except VtpmMigrationError:
        pass

def _check(dominfo, network, dst, checkpoint=False, vtpm=None, fd=None):
    """send --check, or the sender staged; a refusal is logged."""
    try:
        _enabled("vTPM migration")
        if checkpoint and not _rollback():
            raise VtpmMigrationError("a checkpoint (xm save -c) rolls the "
                "vTPM back when restored (vtpm-migration-allow-rollback)")
        args = ['send', '--to', peer_name(dst, network)] + _instance(dominfo)
        if vtpm:
            return _stage(vtpm, args, fd)
        out = _run(args + ['--check'])
    except VtpmMigrationError as e:
        log.error("vTPM of %s: %s", dominfo.getName(), e)
        raise VtpmMigrationError("vTPM: %s" % e)
    return dict([l.split(' ', 1) for l in out.splitlines() if ' ' in l])

def check(dominfo, dst, network=False, checkpoint=False, step=0):
    """domain_save before the file is opened, device step 0."""
    if step == 0 and _moves(dominfo):
        _check(dominfo, network, dst, checkpoint)
    return 0

def check_before_save(fd, dominfo, network, dst, checkpoint, sock):
    """Before the signature: the vTPM this save sends, or None."""
    if _moves(dominfo):
        vtpm = _Vtpm(dominfo, network=network, dst=dst, checkpoint=checkpoint,
                     file=not network and dst, sock=network and sock)
        _check(dominfo, network, dst, checkpoint, vtpm, fd)
        return vtpm

def _reply(sock):
    """The answer, read as domain_migrate reads the destination's error."""
    old = sock.gettimeout()
    try:
        sock.settimeout(_timeout())
        data = _text(sock.recv(1024)).strip()
    except Exception:
        data = ''
    sock.settimeout(old)
    m = ERR_RE.match(data)
    return data or None, m and m.group(2)

def ask_destination(dominfo, dst, sock, ssl):
    """XendDomain._domain_migrate*, before "receive": would it take it?"""
    if not _moves(dominfo):
        return
    announce = _check(dominfo, True, dst).get('announce')
    if not (ssl or peer_name(dst, True) == 'self' or xoptions.get_config_bool(
            'vtpm-migration-plain-relocation', 'no')):
        raise VtpmMigrationError(
            "vTPM migration to '%s' refused: over plain relocation a man in "
            "the middle could give this TPM to an image of his own; use xm "
            "migrate --ssl, or (vtpm-migration-plain-relocation yes)" % dst)
    sock.sendall(("(vtpm_check (announce %s))\n" % announce).encode('ascii'))
    line, reason = _reply(sock)
    if line is None or not line.startswith('(ok'):
        reason = reason or 'no answer (is vTPM migration installed there?)'
        log.error("vTPM of %s refused by %s: %s", dominfo.getName(), dst,
                  reason)
        raise VtpmMigrationError("vTPM migration refused by %s: %s"
                                 % (dst, reason))

def save_suspended(vtpm):
    """saveInputHandler, no TPM command in flight: pull, seal."""
    if vtpm:
        vtpm.helper.say('pull', 'sealed')

def save_after_image(vtpm, fd):
    """After the image: write; once the record is taken, finish."""
    if not vtpm:
        return
    _last_word(vtpm, 'write')
    vtpm.state = 'left'
    if vtpm.checkpoint:   # a copy by design (rollback allowed): it goes on
        _run(['recover', '--force'] + _instance(vtpm.dominfo))
        vtpm.state = None
        return
    if vtpm.sock:
        if fd != vtpm.sock.fileno():
            _drained(fd)
        line, reason = _reply(vtpm.sock)
        if reason:
            vtpm.state = 'refused'
            _run(['recover', '--force'] + _instance(vtpm.dominfo))
            raise VtpmMigrationError("%s (from %s); the guest and its vTPM "
                                     "go on here" % (reason, vtpm.dst))
        if not (line or '').startswith('(vtpm-accepted'):
            raise VtpmMigrationError("no verdict on the vTPM from %s "
                                     "(connection lost or timed out)"
                                     % vtpm.dst)
    vtpm.state = 'gone'   # xend destroys the domain next: finish it here
    try:
        _run(['finish'] + _instance(vtpm.dominfo))
        log.info("vTPM of domain %d shut down, its state deleted.",
                 vtpm.domid)
    except VtpmMigrationError as e:
        log.error("%s; it left this host: the record holds it (see "
                  "vtpm_migrate(8), finish)", e)

def _drained(fd):
    """SSL: the relay thread sends what it has before we read."""
    deadline = time.time() + _timeout()
    while time.time() < deadline and struct.unpack('i', fcntl.ioctl(
            fd, termios.FIONREAD, struct.pack('i', 0)))[0]:
        time.sleep(0.01)
    time.sleep(0.05)

def recover_after_failure(vtpm, exn):
    """Before resumeDomain(): the error to raise, saying when the guest
    resumes without its TPM; raises once its vTPM was handed over."""
    if not vtpm or vtpm.state == 'refused':
        return exn
    _end_stage(vtpm)
    if vtpm.state == 'gone':
        raise VtpmMigrationError("%s; its vTPM was handed over, so the guest "
                                 "is not resumed here" % exn)
    if vtpm.state != 'left':    # no whole record left: drop what did
        if vtpm.file and os.path.isfile(vtpm.file):
            os.remove(vtpm.file)    # an image without its vTPM record
        try:    # a destination waiting for the rest of the stream stops
            vtpm.sock and vtpm.sock.shutdown(1)
        except Exception:
            pass
    try:    # refused once a whole record left: its TPM then stays stopped
        _run(['recover'] + _instance(vtpm.dominfo))
        return exn
    except VtpmMigrationError as e:
        why = str(e)    # its line says what to do
    if vtpm.state == 'left':
        why = "its vTPM left this host, may run at %s; if not there: " \
            "vtpm_migrate recover --force --domid %d" % (vtpm.dst, vtpm.domid)
    msg = "%s; the guest resumes without its TPM: %s" % (exn, why)
    log.error("%s", msg)
    return VtpmMigrationError(msg)

def op_vtpm_check(protocol, req):
    """Would this host accept the announced record?  The client learns
    yes or the helper's short public reason; the detailed one is logged."""
    announce = str(sxp.child_value(req, 'announce', ''))
    if not opted_in():    # as xend without the patch answers
        return protocol.operror('vtpm_check', req)
    _enabled("vTPM migration to this host")
    if not re.match(r'[0-9a-fA-F]{2,8192}\Z', announce):
        raise VtpmMigrationError("vtpm_check: no valid announcement")
    helper = _Helper(_argv(['recv', '--check', '--announce', announce] +
                           _rollback()))
    try:
        helper.finish()
    except VtpmMigrationError as e:
        log.error("vTPM announced by a relocation client refused: %s", e)
        public = helper.out.strip().splitlines() or ['vTPM record refused']
        raise VtpmMigrationError(public[-1])
    _relocation.check = (protocol, announce)
    return ['vtpm', 'ok']

def restore_before_image(fd, dominfo, relocating):
    """The vTPM this restore brings (or None), its receiver ready."""
    protocol, announce = getattr(_relocation, 'check', None) or (None, None)
    _relocation.check = None
    if not _moves(dominfo):
        return None
    _enabled("vTPM restore")
    vtpm = _Vtpm(dominfo, relocating=relocating, protocol=protocol)
    _stage(vtpm, ['recv'] + _rollback() + (announce and ['--announce',
           announce] or []) + _instance(dominfo), fd)
    return vtpm

def restore_after_image(vtpm):
    """Load, tell the source; a file's refusal is kept."""
    if not vtpm:
        return
    try:
        _last_word(vtpm, 'go')
    except VtpmMigrationError as e:
        if vtpm.relocating:
            raise
        vtpm.kept = e
        return
    log.info("vTPM of domain %d received and running.", vtpm.domid)
    if vtpm.protocol is not None:
        vtpm.protocol.send_reply(['vtpm-accepted'])

def keep_paused(vtpm, dominfo):
    """A file's refused vTPM record: the domain, complete but for its vTPM
    (completeRestore ran), waits paused once its other devices are up."""
    if not vtpm or vtpm.kept is None:
        return
    from xen.xend.XendDevices import XendDevices
    for devclass in XendDevices.valid_devices():
        if devclass != 'vtpm':
            dominfo.getDeviceController(devclass).waitForDevices()
    vtpm.state, d = 'kept', vtpm.domid
    raise VtpmMigrationError("%s; domain %d is kept paused: if the reason "
        "names a load command, run it with INSTANCE '--domid %d --domain-uuid "
        "%s', then 'xm unpause %d'; otherwise 'xm destroy %d'" % (vtpm.kept, d,
        d, dominfo.info['uuid'], d, d))

def keep_after_failure(vtpm, exn):
    """restore's error path: a kept domain is not destroyed."""
    if vtpm:
        _end_stage(vtpm)
        if vtpm.state == 'kept':    # domain_restore_fd logs it
            raise exn

def delete_state(dominfo):
    """xm delete, the configuration gone: its vTPMs' state goes."""
    for uuid in dominfo and _moves(dominfo) or []:
        try:
            _Helper([os.path.join(auxbin.scripts_dir(), 'vtpm-swtpm'),
                     'delete', uuid]).finish()
        except VtpmMigrationError as e:
            log.error("vTPM %s: %s", uuid, e)

def destroy_state(uuids):
    """A switched host keeps swtpm state on every delete path but xm delete
    (delete_state) and the Xen API's VTPM.destroy, which passes a name."""
    if uuids and not isinstance(uuids, (list, tuple)):
        from xen.xend import XendDomain
        delete_state(XendDomain.instance().domain_lookup_nr(uuids))
