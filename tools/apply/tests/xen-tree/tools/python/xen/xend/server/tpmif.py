# Stand-in (tests only): the vTPM device controller as the patch finds it
# in Xen 4.1/4.2, written anew with the same behaviour: an external tool,
# run through a shell, for every step of a network migration and for its
# recovery; a migration is refused without one; vtpm-delete run through a
# shell for each UUID (or each character of a domain's name) it is given.

from xen.xend import XendOptions
from xen.xend.XendLogging import log
from xen.xend.XendError import XendError
from xen.xend.XendConstants import DEV_MIGRATE_TEST, VTPM_DELETE_SCRIPT
from xen.xend.server.DevController import DevController

import os
import re

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
        if not network:
            return 0
        tool = xoptions.get_external_migration_tool()
        if tool == '':
            log.debug("no external migration tool configured")
            return -1
        log.info("vTPM migration to %s, step %d", dst, step)
        if step == DEV_MIGRATE_TEST:
            return 0
        out = os.popen("%s -type vtpm -step %d -host %s -domname %s" %
                       (tool, step, dst, domName), 'r')
        for line in out.readlines():
            if re.search('Error', line):
                raise XendError("vtpm: Fatal error in migration step %d: %s"
                                % (step, line))
        return 0

    def recover_migrate(self, deviceConfig, network, dst, step, domName):
        """@see DevController.recover_migrate"""
        if network:
            tool = xoptions.get_external_migration_tool()
            if tool != '':
                log.info("vTPM recovery, last good step %d", step)
                os.popen("%s -type vtpm -step %d -host %s -domname %s "
                         "-recover" % (tool, step, dst, domName), 'r').read()
        return 0
