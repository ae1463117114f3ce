# Stand-in (tests only).
from xen.xend.server import tpmif


class XendDevices(object):

    def valid_devices(cls):
        return ['vif', 'vtpm']

    valid_devices = classmethod(valid_devices)

    def destroy_device_state(cls, domain):
        """Destroy the state of (external) devices, when a VM's
        configuration is destroyed."""
        tpmif.destroy_vtpmstate(domain.info.get('vtpm_refs'))

    destroy_device_state = classmethod(destroy_device_state)
