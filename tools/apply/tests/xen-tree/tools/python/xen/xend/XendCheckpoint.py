# Stand-in for xend's XendCheckpoint (tests only; not Xen's code).
#
# Same function names, the same lines the patch anchors on, and the same
# stream order: signature, config length and sxp, the image written by the
# xc_save helper on the stream's fd, the HVM device-model record; restore
# reads them back and runs the xc_restore helper on the fd.  The helpers are
# stand-ins too (tools/xcutils/), found through xen.util.auxbin.

import fcntl
import os
import re
import threading
from struct import pack, unpack

import xen.util.auxbin
from xen.util.xpopen import xPopen3
from xen.xend.XendError import XendError
from xen.xend.XendLogging import log
from xen.xend.XendConstants import *

SIGNATURE = b"LinuxGuestRecord"
QEMU_SIGNATURE = b"QemuDeviceModelRecord"
QEMU_SAVE_PATH = "/var/lib/xen/qemu-save.%d"
XC_SAVE = "xc_save"
XC_RESTORE = "xc_restore"


def write_exact(fd, buf, errmsg):
    if not isinstance(buf, bytes):
        buf = buf.encode()
    if os.write(fd, buf) != len(buf):
        raise XendError(errmsg)


def read_exact(fd, size, errmsg):
    buf = b''
    while size != 0:
        chunk = os.read(fd, size)
        if not chunk:
            raise XendError(errmsg)
        size -= len(chunk)
        buf += chunk
    return buf


def save(fd, dominfo, network, live, dst, checkpoint=False, node=-1,sock=None):
    write_exact(fd, SIGNATURE, "could not write guest state file: signature")

    config = dominfo.sxpr_text()
    domain_name = dominfo.getName()
    dominfo.setName('migrating-' + domain_name)

    try:
        dominfo.migrateDevices(network, dst, DEV_MIGRATE_STEP1, domain_name)

        write_exact(fd, pack("!i", len(config)),
                    "could not write guest state file: config len")
        write_exact(fd, config, "could not write guest state file: config")

        hvm = dominfo.info.is_hvm()
        cmd = [xen.util.auxbin.pathTo(XC_SAVE), str(fd),
               str(dominfo.getDomid()), "0", "0",
               str(int(live) | (int(hvm) << 2))]

        def saveInputHandler(line, tochild):
            if line == "suspend":
                dominfo.shutdown('suspend')
            if line in ('suspend', 'suspended'):
                dominfo.migrateDevices(network, dst, DEV_MIGRATE_STEP2,
                                       domain_name)
                dominfo.migrateDevices(network, dst, DEV_MIGRATE_STEP3,
                                       domain_name)
                if hvm:
                    dominfo.saveDeviceModel(QEMU_SAVE_PATH
                                            % dominfo.getDomid())
            if line == "suspend":
                tochild.write("done\n")
                tochild.flush()

        forkHelper(cmd, fd, saveInputHandler, False)

        # the device model's state in its legacy form: read to end of stream
        qemu_save = QEMU_SAVE_PATH % dominfo.getDomid()
        if os.path.exists(qemu_save):
            write_exact(fd, QEMU_SIGNATURE, "could not write qemu signature")
            f = open(qemu_save, 'rb')
            write_exact(fd, f.read(), "could not write device model state")
            f.close()
            os.remove(qemu_save)

        if checkpoint:
            dominfo.resumeDomain()
        else:
            if live and sock != None:
                try:
                    sock.shutdown(2)
                except Exception:
                    pass
                sock.close()

            dominfo.destroy()
            dominfo.testDeviceComplete()
        dominfo.setName(domain_name)

    except Exception as exn:
        log.exception("Save failed on domain %s (%s) - resuming.", domain_name,
                      dominfo.getDomid())
        dominfo.resumeDomain()

        try:
            dominfo.setName(domain_name)
        except Exception:
            log.exception("Failed to reset the migrating domain's name")

        raise exn


def restore(xd, fd, dominfo = None, paused = False, relocating = False):
    signature = read_exact(fd, len(SIGNATURE),
        "not a valid guest state file: signature read")
    if signature != SIGNATURE:
        raise XendError("not a valid guest state file: found '%s'" %
                        signature)

    l = read_exact(fd, 4, "not a valid guest state file: config size read")
    vmconfig_size = unpack("!i", l)[0]
    vmconfig = read_exact(fd, vmconfig_size,
        "not a valid guest state file: config read")

    if dominfo:
        dominfo.resume()
    else:
        # creates the domain and its devices: the vTPM hotplug runs here
        dominfo = xd.restore_(vmconfig)

    is_hvm = dominfo.info.is_hvm()
    try:
        cmd = [str(x) for x in [xen.util.auxbin.pathTo(XC_RESTORE), fd,
                                dominfo.getDomid(), 1, 2, int(is_hvm), 0, 0,
                                0]]
        handler = RestoreInputHandler()

        forkHelper(cmd, fd, handler.handler, True)

        # no later child gets the stream
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)

        if handler.store_mfn is None:
            raise XendError('Could not read store MFN')

        dominfo.completeRestore(handler.store_mfn, handler.console_mfn)
        dominfo.waitForDevices()
        if not paused:
            dominfo.unpause()
        return dominfo
    except Exception as exn:
        dominfo.destroy()
        log.exception(exn)
        raise exn


class RestoreInputHandler:
    def __init__(self):
        self.store_mfn = None
        self.console_mfn = None

    def handler(self, line, _):
        m = re.match(r"^(store-mfn|console-mfn) (\d+)$", line)
        if m and m.group(1) == 'store-mfn':
            self.store_mfn = int(m.group(2))
        elif m:
            self.console_mfn = int(m.group(2))


def forkHelper(cmd, fd, inputHandler, closeToChild):
    child = xPopen3(cmd, True, -1, [fd])
    if closeToChild:
        child.tochild.close()
    errors = []
    thread = threading.Thread(target=slurp, args=(child.childerr, errors))
    thread.start()
    try:
        while True:
            line = child.fromchild.readline()
            if line == "":
                break
            inputHandler(line.rstrip(), child.tochild)
    finally:
        child.fromchild.close()
        if not closeToChild:
            child.tochild.close()
        thread.join()
        child.childerr.close()
        status = child.wait()
    if status != 0:
        raise XendError("%s failed%s" % (' '.join(cmd),
                        errors and ': ' + errors[-1] or ''))


def slurp(infile, errors):
    for line in infile:
        line = line.strip()
        m = re.match(r"^ERROR: (.*)", line)
        if m is None:
            log.info('%s', line)
        else:
            errors.append(m.group(1))
            log.error('%s', m.group(1))
