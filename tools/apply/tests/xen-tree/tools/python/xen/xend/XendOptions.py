# Stand-in (tests only): xend-config.sxp as a dictionary the tests fill.


class XendOptions(object):
    def __init__(self):
        self.config = {}

    def get_config_value(self, name, val=None):
        return self.config.get(name, val)

    def get_config_string(self, name, val=None):
        return self.get_config_value(name, val)


_instance = XendOptions()


def instance():
    return _instance
