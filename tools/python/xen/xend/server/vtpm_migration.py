#============================================================================
# This library is free software; you can redistribute it and/or
# modify it under the terms of version 2.1 of the GNU Lesser General Public
# License as published by the Free Software Foundation.
#============================================================================

"""vTPM migration for xend: the calls made from the migration stream.

xend moves a guest's vTPM inside its own migration stream, the way it moves
the guest's memory: a helper process, `vtpm_migrate`, is handed the stream's
file descriptor number on its command line, exactly as `xc_save` and
`xc_restore` are.  This module holds every call xend makes; the patch to a
Xen tree inserts one line per call (see docs/misc/vtpm-migration.txt):

  XendCheckpoint.save       check_before_save()      before the signature
                            save_after_image()       after xc_save returned
                            finish_after_success()   before dominfo.destroy()
                            recover_after_failure()  before dominfo.resumeDomain()
                                                     in the error path
  XendCheckpoint.restore    restore_after_image()    after xc_restore returned
  server/tpmif.py           device_migrate()         TPMifController.migrate
                            device_recover_migrate() TPMifController.recover_migrate
                            destroy_state()          destroy_vtpmstate

Stream order for a guest with a vTPM (nothing here reads a reply, so the
same code serves a TCP socket, an SSL relay pipe and a save file):

  "LinuxGuestRecord", config length, config sxp     (xend)
  domain image                                      (xc_save)
  HVM only: "DeviceModelRecord0002", length, data   (this module)
  the vTPM record                                   (vtpm_migrate send)

For an HVM guest the device-model record comes before the vTPM record and
is always written in its length-prefixed form: the receiving xc_restore
reads the device-model record as the tail of the image, and the legacy
"QemuDeviceModelRecord" form is read to end of stream, leaving no room for
anything after it.

Runs on Python 2.6+ (xend) and 3.x (tests).
"""

import fcntl
import os
import re
import socket
import struct
import subprocess
import sys
import time

try:
    from xen.xend.XendError import XendError as _ErrorBase
except ImportError:
    _ErrorBase = Exception

try:
    from xen.xend.XendLogging import log
except ImportError:
    import logging
    log = logging.getLogger("xend.vtpm_migration")


class VtpmMigrationError(_ErrorBase):
    """A refused or failed vTPM step; the message says what and why."""
    pass


# ---- configuration (xend-config.sxp) ---------------------------------------

OPT_ENABLE = 'vtpm-migration'
OPT_KEY_DIR = 'vtpm-migration-key-dir'
OPT_ALLOW_ROLLBACK = 'vtpm-migration-allow-rollback'
OPT_HELPER = 'vtpm-migration-helper'
OPT_INSTANCE_TIMEOUT = 'vtpm-migration-instance-timeout'

DEFAULT_KEY_DIR = '/var/lib/xen/vtpm-migration'
DEFAULT_HELPER = '/usr/sbin/vtpm_migrate'
DEFAULT_INSTANCE_TIMEOUT = 100       # xend's DEVICE_CREATE_TIMEOUT

# Where xend's device model leaves an HVM guest's saved state (image.py).
QEMU_SAVE_PATH = '/var/lib/xen/qemu-save.%d'
DM_SIGNATURE = b'DeviceModelRecord0002'

BACKEND_ROOT = '/local/domain/0/backend/vtpm'
CTRL_NODE = 'swtpm-ctrl'

_TRUE = ('yes', 'y', '1', 'on', 'true', 't')
_FALSE = ('no', 'n', '0', 'off', 'false', 'f')
# vtpm_migrate's rule for key names: 1-63 of A-Z a-z 0-9 . _ -, no leading dot.
_PEER_NAME = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$')
_UUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                   r'[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
_LOCAL_NAMES = ('localhost', 'localhost.localdomain', 'localhost6',
                'ip6-localhost', '::1')


def _bool(name, value):
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise VtpmMigrationError("invalid xend config (%s %s): expected yes or no"
                             % (name, value))


class Options(object):
    """The settings this module runs with.

    Safe defaults: migration of a vTPM guest is refused until an
    administrator enables it and sets up keys; rollback is refused.
    """

    def __init__(self, enabled=False, key_dir=DEFAULT_KEY_DIR,
                 allow_rollback=False, helper=DEFAULT_HELPER,
                 instance_timeout=DEFAULT_INSTANCE_TIMEOUT):
        self.enabled = enabled
        self.key_dir = key_dir
        self.allow_rollback = allow_rollback
        self.helper = helper
        self.instance_timeout = instance_timeout

    @classmethod
    def from_lookup(cls, get):
        """Build from get(name, default) -> string (xend's config lookup)."""
        timeout = get(OPT_INSTANCE_TIMEOUT, str(DEFAULT_INSTANCE_TIMEOUT))
        try:
            timeout = int(timeout)
        except (TypeError, ValueError):
            raise VtpmMigrationError("invalid xend config (%s %s): expected "
                                     "seconds" % (OPT_INSTANCE_TIMEOUT,
                                                  timeout))
        return cls(enabled=_bool(OPT_ENABLE, get(OPT_ENABLE, 'no')),
                   key_dir=str(get(OPT_KEY_DIR, DEFAULT_KEY_DIR)),
                   allow_rollback=_bool(OPT_ALLOW_ROLLBACK,
                                        get(OPT_ALLOW_ROLLBACK, 'no')),
                   helper=str(get(OPT_HELPER, DEFAULT_HELPER)),
                   instance_timeout=timeout)


_configured = None
_locate = None


def configure(options):
    """Use these Options instead of xend's configuration (None: xend's)."""
    global _configured
    _configured = options


def locate_instances(locate):
    """Use locate(dominfo) -> Instance instead of Xen mode (None: Xen mode).

    xend names a vTPM by its domain id (vtpm_migrate finds it in xenstore);
    a toolstack without xenstore, or a test, names the swtpm directly.
    """
    global _locate
    _locate = locate


def options():
    """The Options in force: configure()'d ones, else xend-config.sxp's."""
    if _configured is not None:
        return _configured
    try:
        from xen.xend import XendOptions
    except ImportError:
        return Options()
    xoptions = XendOptions.instance()

    def get(name, default):
        value = xoptions.get_config_string(name, default)
        if value is None:
            return default
        return value
    return Options.from_lookup(get)


# ---- which vTPM: Xen mode (xend) or a named swtpm (standalone) -------------

class Instance(object):
    """The INSTANCE arguments of vtpm_migrate, and how to see it is ready."""

    def __init__(self, argv, describe, ready, ctrl=None):
        self.argv = argv
        self.describe = describe
        self._ready = ready
        self.ctrl = ctrl

    def ready(self):
        return self._ready()

    @classmethod
    def xen(cls, domid):
        domid = int(domid)

        def ready():
            return _xen_ctrl_socket(domid) is not None
        return cls(['--domid', str(domid)], 'domain %d' % domid, ready)

    @classmethod
    def standalone(cls, ctrl, vtpm_uuid, domain_uuid=None):
        argv = ['--ctrl', ctrl, '--uuid', vtpm_uuid]
        if domain_uuid:
            argv += ['--domain-uuid', domain_uuid]

        def ready():
            return _is_socket(ctrl)
        return cls(argv, 'vTPM %s' % vtpm_uuid, ready, ctrl)


def _is_socket(path):
    try:
        import stat
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _xs_list(path):
    try:
        from xen.xend.xenstore.xstransact import xstransact
        return xstransact.List(path) or []
    except ImportError:
        out = _run_quiet(['xenstore-list', path])
        if out is None:
            return []
        return out.split()


def _xs_read(path):
    try:
        from xen.xend.xenstore.xstransact import xstransact
        return xstransact.Read(path)
    except ImportError:
        out = _run_quiet(['xenstore-read', path])
        if out is None:
            return None
        return out.strip()


def _run_quiet(argv):
    """stdout of argv as text, or None if it fails (used without xend)."""
    try:
        p = subprocess.Popen(argv, stdin=_devnull(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True)
    except OSError:
        return None
    out, _ = p.communicate()
    if p.returncode != 0:
        return None
    return _text(out)


def _xen_ctrl_socket(domid):
    """The control socket the hotplug script published, once it exists.

    A hotplug script that failed says so in hotplug-status; waiting on
    would only delay the same failure.
    """
    base = '%s/%d' % (BACKEND_ROOT, domid)
    for devid in _xs_list(base):
        if not devid.isdigit():
            continue
        node = '%s/%s' % (base, devid)
        if _xs_read(node + '/hotplug-status') == 'error':
            raise VtpmMigrationError(
                "vTPM restore failed: the vTPM hotplug script failed: %s"
                % _printable(_xs_read(node + '/hotplug-error') or '?'))
        ctrl = _xs_read('%s/%s' % (node, CTRL_NODE))
        if ctrl and _is_socket(ctrl):
            return ctrl
    return None


# ---- the guest's vTPM devices (from xend's domain config) -------------------

def _vtpm_configs(dominfo):
    """The vtpm device configs of a domain, as lists of [key, value]."""
    found = []
    for (dev_type, dev_sxpr) in dominfo.info.all_devices_sxpr():
        if dev_type == 'vtpm':
            found.append(dev_sxpr)
    return found


def _sxp_value(sxpr, key):
    for item in sxpr[1:]:
        if isinstance(item, (list, tuple)) and len(item) == 2 \
                and item[0] == key:
            return item[1]
    return None


def has_vtpm(dominfo):
    return len(_vtpm_configs(dominfo)) > 0


def _check_devices(dominfo):
    devs = _vtpm_configs(dominfo)
    if len(devs) > 1:
        raise VtpmMigrationError("vTPM: domain has %d vTPM devices; only one "
                                 "can be migrated" % len(devs))
    backend = _sxp_value(devs[0], 'backend')
    if backend not in (None, '0', 0, 'Domain-0'):
        raise VtpmMigrationError("vTPM: the vTPM backend runs in domain %s; "
                                 "only a dom0 backend can be migrated"
                                 % backend)


def _domid(dominfo):
    domid = dominfo.getDomid()
    if domid is None:
        raise VtpmMigrationError("vTPM: the domain has no domain id")
    return int(domid)


def _is_hvm(dominfo):
    return bool(dominfo.info.is_hvm())


# ---- refusing early ----------------------------------------------------------

def peer_name(dst, network):
    """The key name a destination is known by in the key directory.

    A save file, and a migration to this host, are sealed to this host's
    own key ('self').  Otherwise the name is the destination exactly as
    given to `xm migrate`, which is the name its key was trusted under.
    """
    if not network:
        return 'self'
    name = str(dst).strip()
    if name.lower() in _LOCAL_NAMES or name.startswith('127.') \
            or name == socket.gethostname():
        return 'self'
    if not _PEER_NAME.match(name):
        raise VtpmMigrationError("vTPM migration to '%s' refused: not usable "
                                 "as a peer key name (1-63 of A-Z a-z 0-9 . _ "
                                 "-); migrate to a host name" % _printable(name))
    return name


def _check_keys(opts, name, what):
    """Refuse unless this host has a key pair and trusts the peer `name`."""
    if not opts.enabled:
        raise VtpmMigrationError(
            "%s refused: vTPM migration is disabled on this host (set "
            "(%s yes) in xend-config.sxp after setting up keys, see "
            "vtpm_migrate(8))" % (what, OPT_ENABLE))
    key_dir = opts.key_dir
    if not os.path.isfile(os.path.join(key_dir, 'host.key')):
        raise VtpmMigrationError(
            "%s refused: this host has no vTPM migration key in %s (run "
            "'vtpm_migrate keygen -d %s')" % (what, key_dir, key_dir))
    if name == 'self':
        return
    peer = os.path.join(key_dir, 'peers', name + '.pub')
    if not os.path.isfile(peer):
        raise VtpmMigrationError(
            "%s refused: the key of '%s' is not trusted on this host (no %s; "
            "copy its host.pub and run 'vtpm_migrate trust -d %s FILE %s')"
            % (what, name, peer, key_dir, name))


def check_destination(dst, network=True, opts=None):
    """Raise VtpmMigrationError unless a vTPM may be sent to dst."""
    if opts is None:
        opts = options()
    name = peer_name(dst, network)
    if network:
        what = "vTPM migration to '%s'" % _printable(str(dst))
    else:
        what = "vTPM save"
    _check_keys(opts, name, what)
    return name


def device_migrate(controller, deviceConfig, network, dst, step, domName):
    """TPMifController.migrate: device step 0 refuses with a reason.

    xend turns a -1 from step 0 into "Device of type 'vtpm' refuses
    migration", which hides why; the exception raised here carries the
    reason to `xm migrate`.  Steps 1-3 run while xc_save may still write
    to the stream, so they do nothing: the record is written by
    save_after_image().
    """
    if network and step == 0:
        check_destination(dst, network)
        log.info("vTPM of %s may migrate to %s.", domName, dst)
    return 0


def device_recover_migrate(controller, deviceConfig, network, dst, step,
                           domName):
    """TPMifController.recover_migrate: recovery runs from the save path."""
    return 0


def check_before_save(dominfo, network, dst, checkpoint=False, opts=None):
    """XendCheckpoint.save, before the signature: refuse before any byte.

    Covers `xm save`, which runs no device step 0.
    """
    if not has_vtpm(dominfo):
        return
    if opts is None:
        opts = options()
    _check_devices(dominfo)
    if checkpoint and not opts.allow_rollback:
        raise VtpmMigrationError(
            "vTPM: a checkpoint (xm save -c) keeps the vTPM running while its "
            "state sits in the file: restoring it later would roll the TPM "
            "back; refused (see %s)" % OPT_ALLOW_ROLLBACK)
    check_destination(dst, network, opts)


# ---- the helper process (started the way xend starts xc_save) --------------

def _devnull():
    return open(os.devnull, 'r+b')


def _text(data):
    if isinstance(data, bytes) and not isinstance(data, str):
        return data.decode('utf-8', 'replace')
    return data


def _printable(text, limit=300):
    text = ''.join([(c if ' ' <= c <= '~' else '?') for c in text])
    return text[:limit]


def _keep_only(fd):
    """preexec_fn for Python 2: the child keeps fd, closes other open fds.

    Descriptors already marked close-on-exec are left alone: they vanish at
    exec, and one of them is subprocess's own error pipe.
    """
    def child():
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags & ~fcntl.FD_CLOEXEC)
        try:
            names = os.listdir('/proc/self/fd')
            fds = [int(n) for n in names]
        except OSError:
            fds = range(3, 1024)
        for other in fds:
            if other < 3 or other == fd:
                continue
            try:
                if not fcntl.fcntl(other, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(other)
            except (IOError, OSError):
                pass
    return child


# Python 3.2+ keeps a descriptor open across exec with pass_fds; Python 2
# has no such argument, so the child clears close-on-exec itself.
_PASS_FDS = sys.version_info[0] >= 3


def _spawn(argv, fd):
    """Popen with only stdio and (if given) fd open in the child."""
    kwargs = dict(stdin=_devnull(), stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
    if fd is None:
        kwargs['close_fds'] = True
    elif _PASS_FDS:
        kwargs['close_fds'] = True
        kwargs['pass_fds'] = (fd,)
    else:
        kwargs['close_fds'] = False
        kwargs['preexec_fn'] = _keep_only(fd)
    try:
        return subprocess.Popen(argv, **kwargs)
    finally:
        kwargs['stdin'].close()


def run_helper(args, fd=None, opts=None, what=None):
    """Run `vtpm_migrate ARGS [--fd FD]`; raise with its error line on failure.

    The exit status is always checked: 0 is success, 1 a refusal or failure
    with one line on stderr saying why, 2 a usage error.
    """
    if opts is None:
        opts = options()
    argv = [opts.helper] + list(args)
    if fd is not None:
        argv += ['--fd', str(int(fd))]
    if what is None:
        what = 'vtpm_migrate %s' % args[0]
    log.debug("[vtpm_migrate]: %s", ' '.join(argv))
    try:
        child = _spawn(argv, fd)
    except OSError as e:
        raise VtpmMigrationError("%s failed: cannot run %s: %s"
                                 % (what, opts.helper, e.strerror))
    out, err = child.communicate()
    status = child.returncode
    line = ''
    for candidate in _text(err).splitlines():
        if candidate.strip():
            line = _printable(candidate.strip())
            break
    for extra in _text(out).splitlines():
        if extra.strip():
            log.info("vtpm_migrate: %s", _printable(extra.strip()))
    if status == 0:
        return
    if status < 0:
        reason = "killed by signal %d" % -status
    elif line:
        reason = line
    else:
        reason = "exit status %d" % status
    if status == 2:
        reason = "usage error (%s)" % reason
    raise VtpmMigrationError("%s failed: %s" % (what, reason))


def _instance(dominfo, instance):
    if instance is not None:
        return instance
    if _locate is not None:
        return _locate(dominfo)
    return Instance.xen(_domid(dominfo))


# ---- source side -------------------------------------------------------------

def _write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _write_device_model_record(fd, domid, path=None):
    """An HVM guest's device-model state, length-prefixed, if xend saved any.

    Takes over the file xend would otherwise copy in its legacy, read-to-EOF
    form; xend's own copy then finds no file and writes nothing.
    """
    if path is None:
        path = QEMU_SAVE_PATH % domid
    if not os.path.exists(path):
        return False
    f = open(path, 'rb')
    try:
        data = f.read()
    finally:
        f.close()
    if len(data) > 0xffffffff:
        raise VtpmMigrationError("device model state too large (%d bytes)"
                                 % len(data))
    # xc_restore reads the length as a host-endian uint32.
    _write_all(fd, DM_SIGNATURE + struct.pack('=I', len(data)) + data)
    os.remove(path)
    return True


def save_after_image(fd, dominfo, network, dst, instance=None, opts=None,
                     qemu_save_path=None):
    """XendCheckpoint.save, after xc_save returned: write the vTPM record.

    The guest is suspended and its image complete, so no TPM command is in
    flight.  `vtpm_migrate send` leaves the source vTPM running: if anything
    later fails, recover_after_failure() lets it go on.
    """
    if not has_vtpm(dominfo):
        return
    if opts is None:
        opts = options()
    name = check_destination(dst, network, opts)
    inst = _instance(dominfo, instance)
    if _is_hvm(dominfo):
        _write_device_model_record(fd, _domid(dominfo), qemu_save_path)
    start = time.time()
    run_helper(['send', '-d', opts.key_dir, '--to', name] + inst.argv,
               fd=fd, opts=opts, what="vTPM send to '%s'" % name)
    log.info("vTPM of %s sealed to '%s' and written in %.1f ms.",
             inst.describe, name, (time.time() - start) * 1000.0)


def finish_after_success(dominfo, instance=None, opts=None):
    """XendCheckpoint.save, before the source domain is destroyed.

    The stream is complete; the source vTPM must not live on beside the
    destination's (no clone).  Never raises: the domain is destroyed anyway
    and resuming it now would make two live copies.
    """
    if not has_vtpm(dominfo):
        return True
    try:
        inst = _instance(dominfo, instance)
        run_helper(['finish'] + inst.argv, opts=opts,
                   what="vTPM finish")
        log.info("vTPM of %s shut down and its state deleted.",
                 inst.describe)
        return True
    except Exception as e:
        log.error("%s; the source vTPM state must be deleted by hand "
                  "before this vTPM runs here again", e)
        return False


def recover_after_failure(dominfo, instance=None, opts=None):
    """XendCheckpoint.save's error path, before the domain is resumed.

    Never raises, so the error that failed the save is the one reported.
    """
    if not has_vtpm(dominfo):
        return True
    try:
        inst = _instance(dominfo, instance)
        run_helper(['recover'] + inst.argv, opts=opts, what="vTPM recover")
        log.info("vTPM of %s recovered on the source.", inst.describe)
        return True
    except Exception as e:
        log.error("%s", e)
        return False


# ---- destination side ----------------------------------------------------------

def _wait_ready(inst, timeout):
    deadline = time.time() + timeout
    while not inst.ready():
        if time.time() >= deadline:
            raise VtpmMigrationError(
                "vTPM restore failed: no vTPM instance for %s after %d s "
                "(did the vtpm-swtpm hotplug script run?)"
                % (inst.describe, timeout))
        time.sleep(0.05)


def restore_after_image(fd, dominfo, relocating=False, instance=None,
                        opts=None):
    """XendCheckpoint.restore, after xc_restore returned: read the record.

    The hotplug script has started the vTPM waiting for state (never a fresh
    TPM); recv checks the record, loads it and publishes the instance, which
    completes the device xend then waits for.  A failure raises, and
    restore's error path destroys the domain and with it the waiting vTPM.
    """
    if not has_vtpm(dominfo):
        return
    if opts is None:
        opts = options()
    if not opts.enabled:
        raise VtpmMigrationError(
            "vTPM restore refused: vTPM migration is disabled on this host "
            "(set (%s yes) in xend-config.sxp)" % OPT_ENABLE)
    _check_devices(dominfo)
    inst = _instance(dominfo, instance)
    _wait_ready(inst, opts.instance_timeout)
    args = ['recv', '-d', opts.key_dir] + inst.argv
    if opts.allow_rollback:
        args.append('--allow-rollback')
    start = time.time()
    run_helper(args, fd=fd, opts=opts, what="vTPM receive")
    log.info("vTPM of %s received and running (%.1f ms).", inst.describe,
             (time.time() - start) * 1000.0)


# ---- deleting a vTPM's state with its domain -------------------------------

def destroy_state(uuids, script):
    """tpmif.destroy_vtpmstate: `SCRIPT delete UUID` for each vTPM UUID.

    Only well-formed UUIDs reach the script, as arguments, never a shell.
    """
    if not uuids or not os.path.exists(script):
        return
    if not isinstance(uuids, (list, tuple)):
        uuids = [uuids]
    for uuid in uuids:
        if not _UUID.match(str(uuid)):
            log.warning("vTPM: not deleting state of '%s': not a UUID",
                        _printable(str(uuid)))
            continue
        try:
            child = _spawn([script, 'delete', str(uuid)], None)
            _, err = child.communicate()
            if child.returncode != 0:
                log.error("vTPM: %s delete %s failed: %s", script, uuid,
                          _printable(_text(err).strip()))
        except OSError as e:
            log.error("vTPM: cannot run %s: %s", script, e)
