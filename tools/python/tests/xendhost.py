#!/usr/bin/env python3
"""One host's xend, for the harness: runs the patched XendCheckpoint.

    xendhost.py migrate|save|restore --tree TREE --config JSON [--fd N]

migrate  device step 0 (testMigrateDevices), then XendCheckpoint.save to fd N
         with network=True, as XendDomain.domain_migrate does
save     XendCheckpoint.save to fd N with network=False (xm save)
restore  XendCheckpoint.restore from fd N; creating the domain's devices
         starts the vTPM waiting for state, as the hotplug script does for a
         resuming domain

With "xen" in the config the vTPM is named by domain id, as xend does: the
host's xenstored (XENSTORED_PATH) holds the backend nodes, the vtpm-swtpm
hotplug script starts and stops the instances, and vtpm_migrate finds them
through xenstore.

TREE is a stand-in Xen tree with the patch applied: the module and the
calls inserted into save/restore are exactly what a packager ships.  The
last line on stdout is a JSON result: ok, error, and the domain calls made.
"""

import json
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Info(dict):
    def __init__(self, conf):
        dict.__init__(self)
        self.conf = conf

    def all_devices_sxpr(self):
        vtpm = self.conf.get('vtpm')
        devs = [('vif', ['vif', ['mac', '00:16:3e:00:00:01']])]
        if vtpm:
            devs.append(('vtpm', ['vtpm', ['uuid', vtpm['uuid']],
                                  ['backend', '0']]))
        return devs

    def is_hvm(self):
        return bool(self.conf.get('hvm'))


class DomInfo(object):
    """The parts of XendDomainInfo that save() and restore() call."""

    def __init__(self, conf, calls, destination):
        self.conf = conf
        self.calls = calls
        self.info = Info(conf)
        self.name = conf.get('name', 'guest')
        self.destination = destination
        vtpm = conf.get('vtpm')
        self.xen = conf.get('xen')
        self.swtpm = None
        if vtpm and not self.xen:
            self.swtpm = harness.Swtpm(vtpm['dir'], vtpm.get('tpm2', True))

    def getDomid(self):
        return self.conf['domid']

    def getName(self):
        return self.name

    def setName(self, name, to_store=True):
        self.name = name

    def sxpr_text(self):
        text = '(domain (name %s) (uuid %s)' % (self.name,
                                                self.conf.get('domain_uuid'))
        for (kind, sxpr) in self.info.all_devices_sxpr():
            text += ' (device %s)' % repr(sxpr)
        return (text + ')').encode()

    def testMigrateDevices(self, network, dst):
        from xen.xend.XendError import XendError
        for (kind, sxpr) in self.info.all_devices_sxpr():
            rc = self._controller(kind).migrate(sxpr, network, dst, 0,
                                                self.name)
            if rc != 0:
                raise XendError("Device of type '%s' refuses migration."
                                % kind)

    def migrateDevices(self, network, dst, step, domName=''):
        self.calls.append('step%d' % step)
        for (kind, sxpr) in self.info.all_devices_sxpr():
            self._controller(kind).migrate(sxpr, network, dst, step, domName)

    def _controller(self, kind):
        from xen.xend.server import DevController, tpmif
        if kind == 'vtpm':
            return tpmif.TPMifController(self)
        return DevController.DevController(self)

    def shutdown(self, reason):
        self.calls.append('shutdown-' + reason)

    def saveDeviceModel(self, path):
        with open(path, 'wb') as f:
            f.write(bytes.fromhex(self.conf['qemu_state']))

    def resumeDomain(self):
        self.calls.append('resumeDomain')

    def destroy(self):
        # the backend goes, and the vTPM hotplug script stops the instance
        self.calls.append('destroy')
        if self.swtpm is not None:
            self.swtpm.stop()
        if self.xen and self.conf.get('vtpm'):
            hotplug(self.conf, 'remove')

    def testDeviceComplete(self):
        self.calls.append('testDeviceComplete')

    def completeRestore(self, store_mfn, console_mfn):
        self.calls.append('completeRestore')

    def waitForDevices(self):
        self.calls.append('waitForDevices')

    def unpause(self):
        self.calls.append('unpause')


class XendDomain(object):
    def __init__(self, conf, calls):
        self.conf = conf
        self.calls = calls

    def restore_(self, vmconfig):
        self.calls.append('create')
        dominfo = DomInfo(self.conf, self.calls, True)
        if self.conf.get('no_hotplug'):
            return dominfo
        if dominfo.swtpm is not None:
            dominfo.swtpm.start(running=False)
        elif self.conf.get('xen') and self.conf.get('vtpm'):
            # xend writes the backend; udev runs the hotplug script, later
            write_backend(self.conf, resume=True)
            t = threading.Thread(target=hotplug, args=(self.conf, 'add'))
            t.daemon = True
            t.start()
        return dominfo


def write_backend(conf, resume):
    domid = conf['domid']
    base = '/local/domain/0/backend/vtpm/%d/0' % domid
    harness.run(['xenstore-write', base + '/uuid', conf['vtpm']['uuid'],
                 base + '/resume', str(bool(resume)),
                 base + '/frontend-id', str(domid),
                 '/local/domain/%d/vm' % domid, '/vm/' + conf['domain_uuid']])


def hotplug(conf, action):
    """The vtpm-swtpm hotplug script, as udev runs it."""
    env = dict(os.environ)
    env['XENBUS_PATH'] = 'backend/vtpm/%d/0' % conf['domid']
    harness.run([harness.HOTPLUG, action], env=env, check=False)


def main():
    args = sys.argv[1:]
    action = args.pop(0)
    opts = {}
    while args:
        key = args.pop(0)
        opts[key] = args.pop(0)
    with open(opts['--config']) as f:
        conf = json.load(f)
    fd = int(opts['--fd']) if '--fd' in opts else None

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                        format='%(levelname)s %(message)s')
    sys.path.insert(0, os.path.join(opts['--tree'], 'tools', 'python'))
    from xen.xend import XendCheckpoint, XendOptions
    from xen.xend.server import vtpm_migration

    XendOptions.instance().config = conf.get('options', {})
    qemu = os.path.join(conf['workdir'], 'qemu-save.%d')
    XendCheckpoint.QEMU_SAVE_PATH = qemu
    vtpm_migration.QEMU_SAVE_PATH = qemu
    vtpm = conf.get('vtpm')
    if vtpm and not conf.get('xen'):
        vtpm_migration.locate_instances(
            lambda dominfo: vtpm_migration.Instance.standalone(
                os.path.join(vtpm['dir'], 'data.ctrl'), vtpm['uuid'],
                conf.get('domain_uuid')))

    calls = []
    result = {'ok': True, 'error': None, 'calls': calls}
    try:
        if action == 'migrate':
            dominfo = DomInfo(conf, calls, False)
            dominfo.testMigrateDevices(True, conf['dst'])
            XendCheckpoint.save(fd, dominfo, True, conf.get('live', True),
                                conf['dst'])
        elif action == 'save':
            dominfo = DomInfo(conf, calls, False)
            XendCheckpoint.save(fd, dominfo, False, False, conf['dst'],
                                checkpoint=conf.get('checkpoint', False))
        elif action == 'restore':
            XendCheckpoint.restore(XendDomain(conf, calls), fd,
                                   relocating=conf.get('relocating', True))
        else:
            raise SystemExit('unknown action ' + action)
    except Exception as e:
        result['ok'] = False
        result['error'] = str(e)
        result['type'] = type(e).__name__
    finally:
        if fd is not None:
            os.close(fd)
    sys.stdout.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
