#!/usr/bin/env python3
"""One host's xend, for the harness: runs the patched stand-in xend.

    xendhost.py ACTION --tree TREE --config JSON

create    xm create: xend writes the vTPM backend (resume False), udev runs
          the vtpm-swtpm hotplug script, which starts the vTPM
migrate   xm migrate: XendDomain.domain_migrate (device step 0, the
          relocation connection, XendCheckpoint.save on it)
save      xm save: XendDomain.domain_save (opens the file, then save)
restore   xm restore: XendDomain.domain_restore from the file
serve     the relocation server: answers COUNT connections, each in its own
          thread, restoring incoming domains (XendDomain.domain_restore_fd)
delete    xm delete: XendDomain.domain_delete

What real xend does here and the harness does too (see
../../../docs/misc/vtpm-migration.txt): xend names an incoming domain's VM
path /vm/UUID-1 while /vm/UUID is taken (a localhost migration); a pvops
dom0 has no tpmback driver, so destroying a domain leaves its vTPM backend
at state 5 (Closing) and udev never runs the hotplug script's `remove`; a
destroyed transient or relocating domain runs xend's domain-delete path.

The host is its xenstored (XENSTORED_PATH), its key directory and its vTPM
state root.  The last line on stdout is a JSON result (for serve: one line
per connection).
"""

import binascii
import json
import logging
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BACKEND = '/local/domain/0/backend/vtpm/%d/0'


def xs_write(*pairs):
    harness.run(['xenstore-write'] + [str(p) for p in pairs])


def xs_read(path):
    rc, out, _ = harness.run(['xenstore-read', path], check=False)
    return out.strip() if rc == 0 else None


class Info(dict):
    def __init__(self, conf):
        dict.__init__(self)
        self.conf = conf
        self['uuid'] = conf['domain_uuid']
        self['vtpm_refs'] = [conf['vtpm']] if conf.get('vtpm') else []
        self['other_config'] = {}

    def all_devices_sxpr(self):
        devs = [('vif', ['vif', ['mac', '00:16:3e:00:00:01']])]
        if self.conf.get('vtpm'):
            devs.append(('vtpm', ['vtpm', ['uuid', self.conf['vtpm']],
                                  ['backend', '0']]))
        return devs

    def is_hvm(self):
        return bool(self.conf.get('hvm'))


class DomInfo(object):
    """The parts of XendDomainInfo that save, restore and delete use."""

    def __init__(self, conf, domid, calls):
        self.conf = conf
        self.domid = domid
        self.calls = calls
        self.info = Info(conf)
        self.name = conf.get('name', 'guest')

    def getDomid(self):
        return self.domid

    def getName(self):
        return self.name

    def setName(self, name, to_store=True):
        self.name = name

    def sxpr_text(self):
        text = '(domain (name %s) (uuid %s)' % (self.name, self.info['uuid'])
        if self.conf.get('vtpm'):
            text += ' (device (vtpm (uuid %s)))' % self.conf['vtpm']
        return (text + ')').encode()

    def testMigrateDevices(self, network, dst):
        from xen.xend.XendError import XendError
        for (kind, sxpr) in self.info.all_devices_sxpr():
            if self.getDeviceController(kind).migrate(
                    sxpr, network, dst, 0, self.name) != 0:
                raise XendError("Device of type '%s' refuses migration."
                                % kind)

    def migrateDevices(self, network, dst, step, domName=''):
        """As xend: when a device fails a step, every device recovers."""
        self.calls.append('step%d' % step)
        done = 0
        try:
            for (kind, sxpr) in self.info.all_devices_sxpr():
                self.getDeviceController(kind).migrate(sxpr, network, dst,
                                                       step, domName)
                done += 1
        except Exception:
            self.calls.append('recover-step%d' % step)
            for (kind, sxpr) in self.info.all_devices_sxpr():
                if done == 0:
                    step -= 1
                done -= 1
                self.getDeviceController(kind).recover_migrate(
                    sxpr, network, dst, step, domName)
            raise

    def getDeviceController(self, kind):
        from xen.xend.server import DevController, tpmif
        base = tpmif.TPMifController if kind == 'vtpm' else \
            DevController.DevController
        dom = self

        class Controller(base):
            deviceClass = kind

            def waitForDevices(self):
                dom.calls.append('waitForDevices-' + kind)
                if kind == 'vtpm':
                    dom.wait_for_vtpm()
        return Controller(self)

    def shutdown(self, reason):
        self.calls.append('shutdown-' + reason)

    def saveDeviceModel(self, path):
        with open(path, 'wb') as f:
            f.write(binascii.unhexlify(self.conf['qemu_state']))

    def resumeDomain(self):
        self.calls.append('resumeDomain')

    def create_devices(self, resume):
        """xend writes the vTPM backend; udev runs the hotplug script."""
        vm = '/vm/' + self.info['uuid']
        n = 0
        while xs_read(vm + '/uuid') is not None:
            n += 1
            vm = '/vm/%s-%d' % (self.info['uuid'], n)
        xs_write(vm + '/uuid', self.info['uuid'],
                 '/local/domain/%d/vm' % self.domid, vm)
        if not self.conf.get('vtpm'):
            return None
        base = BACKEND % self.domid
        xs_write(base + '/uuid', self.conf['vtpm'], base + '/resume',
                 str(bool(resume)), base + '/frontend-id', self.domid,
                 base + '/online', 1, base + '/state', 1)
        script = self.conf.get('old_vtpm') and old_hotplug or hotplug
        t = threading.Thread(target=script, args=(self.domid, 'add'))
        t.start()
        return t

    def destroy(self):
        """A pvops dom0: the backend goes to Closing, no `remove` event."""
        self.calls.append('destroy')
        if self.conf.get('vtpm'):
            base = BACKEND % self.domid
            xs_write(base + '/online', 0, base + '/state', 5)
        vm = xs_read('/local/domain/%d/vm' % self.domid)
        harness.run(['xenstore-rm', '/local/domain/%d' % self.domid],
                    check=False)
        if vm:
            harness.run(['xenstore-rm', vm], check=False)
        if self.conf.get('relocating') or self.conf.get('transient'):
            from xen.xend import XendDomain
            XendDomain.instance().domain_delete_by_dominfo(self)

    def testDeviceComplete(self):
        self.calls.append('testDeviceComplete')

    def completeRestore(self, store_mfn, console_mfn):
        self.calls.append('completeRestore')

    def waitForDevices(self):
        """Each device class's controller waits, as in xend."""
        from xen.xend.XendDevices import XendDevices
        self.calls.append('waitForDevices')
        for kind in XendDevices.valid_devices():
            self.getDeviceController(kind).waitForDevices()

    def wait_for_vtpm(self):
        """The vTPM backend's hotplug-status, as xend waits for it."""
        from xen.xend.XendError import VmError
        if not self.conf.get('vtpm'):
            return
        base = BACKEND % self.domid
        deadline = time.time() + 10
        while time.time() < deadline:
            status = xs_read(base + '/hotplug-status')
            if status == 'connected':
                return
            if status == 'error':
                break
            time.sleep(0.05)
        raise VmError("Device 0 (vtpm) could not be connected. %s"
                      % (xs_read(base + '/hotplug-error') or ''))

    def unpause(self):
        self.calls.append('unpause')


def old_hotplug(domid, action):
    """A host not switched: udev runs vtpm_manager's `vtpm` script, which
    connects the instance vtpm_managerd serves."""
    base = BACKEND % domid
    xs_write(base + '/instance', 1, base + '/hotplug-status', 'connected')


def hotplug(domid, action):
    """The host's vtpm-swtpm hotplug script, as udev runs it."""
    env = dict(os.environ)
    env['XENBUS_PATH'] = 'backend/vtpm/%d/0' % domid
    script = os.path.join(env['XEN_STANDIN_SCRIPTS'], 'vtpm-swtpm')
    harness.run([script, action], env=env, check=False)


def main():
    args = sys.argv[1:]
    action = args.pop(0)
    opts = dict(zip(args[::2], args[1::2]))
    with open(opts['--config']) as f:
        conf = json.load(f)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                        format='%(levelname)s %(message)s')
    sys.path.insert(0, os.path.join(opts['--tree'], 'tools', 'python'))
    from xen.xend import XendCheckpoint, XendDomain, XendOptions
    XendOptions.instance().config = conf.get('options', {})
    XendCheckpoint.QEMU_SAVE_PATH = os.path.join(conf['workdir'],
                                                 'qemu-save.%d')
    try:
        from xen.xend.server import vtpm_migration
        vtpm_migration.SWITCH = conf['switch']
    except ImportError:
        pass    # the unpatched tree

    xd = XendDomain.instance()
    calls = []
    domids = iter(conf.get('new_domids', [9, 10, 11, 12]))
    def from_config(vmconfig):
        """A domain as xend builds it from the config in the stream."""
        text = vmconfig.decode() if isinstance(vmconfig, bytes) else vmconfig
        dom = re.search(r'\(uuid ([0-9a-f-]+)\)\)?', text).group(1)
        vtpm = re.search(r'\(vtpm \(uuid ([0-9a-f-]+)\)', text)
        return DomInfo(dict(conf, domain_uuid=dom,
                            vtpm=vtpm and vtpm.group(1)), next(domids), calls)
    xd.make_domain = from_config
    if conf.get('domid') is not None:
        xd.add(DomInfo(conf, conf['domid'], calls))

    def attempt(fn):
        result = {'ok': True, 'error': None, 'calls': calls}
        try:
            fn()
        except Exception as e:
            result.update(ok=False, error=str(e), type=type(e).__name__)
        sys.stdout.write(json.dumps(result) + '\n')
        sys.stdout.flush()

    if action == 'create':
        dominfo = xd.domain_lookup_nr(conf['domid'])
        attempt(lambda: dominfo.create_devices(False).join())
    elif action == 'migrate':
        attempt(lambda: xd.domain_migrate(conf['domid'], conf['dst'],
                                          live=conf.get('live', True),
                                          port=conf['port'],
                                          ssl=conf.get('ssl', False)))
        time.sleep(conf.get('linger', 0))    # xend runs on
    elif action == 'save':
        attempt(lambda: xd.domain_save(conf['domid'], conf['file'],
                                       checkpoint=conf.get('checkpoint',
                                                           False)))
    elif action == 'restore':
        def restore():
            t = [None]
            real = xd.make_domain

            def make(vmconfig):
                d = real(vmconfig)
                t[0] = d.create_devices(True)
                return d
            xd.make_domain = make
            xd.domain_restore(conf['file'])
        attempt(restore)
    elif action == 'destroy':
        attempt(lambda: xd.domain_lookup_nr(conf['domid']).destroy())
    elif action == 'delete':
        attempt(lambda: xd.domain_delete(conf['domid']))
    elif action == 'serve':
        serve(xd, conf, calls)


def serve(xd, conf, calls):
    from xen.xend.server import relocate
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', conf['port']))
    listener.listen(4)
    real = xd.make_domain

    def make(vmconfig):
        d = real(vmconfig)
        d.conf = dict(d.conf, relocating=True)
        d.create_devices(True)
        return d
    xd.make_domain = make
    result = {}
    restore_fd = xd.domain_restore_fd

    def restore(fd, **kw):
        try:
            return restore_fd(fd, **kw)
        except Exception as e:
            result['error'] = str(e)
            raise
    xd.domain_restore_fd = restore
    sys.stdout.write('listening\n')
    sys.stdout.flush()
    for _ in range(conf.get('count', 1)):
        sock, _ = listener.accept()
        protocol = relocate.RelocationProtocol(relocate.Transport(sock))
        del calls[:]
        result.clear()
        while True:
            data = sock.recv(4096)
            if not data:
                break
            protocol.dataReceived(data)
        sock.close()
        result['calls'] = list(calls)
        sys.stdout.write(json.dumps(result) + '\n')
        sys.stdout.flush()
    listener.close()


if __name__ == '__main__':
    main()
