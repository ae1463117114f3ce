# Stand-in (tests only).


class DevController(object):
    def __init__(self, vm):
        self.vm = vm

    def waitForDevices(self):
        pass

    def migrate(self, deviceConfig, network, dst, step, domName):
        return 0

    def recover_migrate(self, deviceConfig, network, dst, step, domName):
        return 0
