# Stand-in (tests only): the vTPM device controller as the patch finds it,
# an external tool run through a shell for every step.

from xen.xend import XendOptions
from xen.xend.XendLogging import log
from xen.xend.XendError import XendError
from xen.xend.XendConstants import DEV_MIGRATE_TEST, VTPM_DELETE_SCRIPT
from xen.xend.server.DevController import DevController

import os

xoptions = XendOptions.instance()


def destroy_vtpmstate(uuids):
    if os.path.exists(VTPM_DELETE_SCRIPT):
        for uuid in uuids:
            os.system(VTPM_DELETE_SCRIPT + " " + uuid)


class TPMifController(DevController):
    """vTPM devices of one domain."""

    def __init__(self, vm):
        DevController.__init__(self, vm)

    def migrate(self, deviceConfig, network, dst, step, domName):
        """@see DevController.migrate"""
        if network:
            tool = xoptions.get_config_value('external-migration-tool', '')
            if tool == '':
                return -1
            if step != DEV_MIGRATE_TEST:
                os.popen("%s -type vtpm -step %d -host %s -domname %s" %
                         (tool, step, dst, domName))
        return 0

    def recover_migrate(self, deviceConfig, network, dst, step, domName):
        """@see DevController.recover_migrate"""
        if network:
            tool = xoptions.get_config_value('external-migration-tool', '')
            if tool != '':
                log.info("recovering vTPM, last good step %d", step)
        return 0
