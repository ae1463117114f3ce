# Stand-in (tests only): xend-config.sxp as a dictionary the tests fill,
# with xend's own parsing of booleans and numbers.
from xen.xend.XendError import XendError


class XendOptions(object):
    def __init__(self):
        self.config = {}

    def get_config_value(self, name, val=None):
        return self.config.get(name, val)

    def get_config_string(self, name, val=None):
        return self.get_config_value(name, val)

    def get_config_bool(self, name, val=None):
        v = str(self.get_config_value(name, val)).lower()
        if v in ['yes', 'y', '1', 'on', 'true', 't']:
            return True
        if v in ['no', 'n', '0', 'off', 'false', 'f']:
            return False
        raise XendError("invalid xend config %s: expected bool: %s"
                        % (name, v))

    def get_config_int(self, name, val=None):
        v = self.get_config_value(name, val)
        try:
            return int(v)
        except Exception:
            raise XendError("invalid xend config %s: expected int: %s"
                            % (name, v))

    def get_external_migration_tool(self):
        return self.get_config_string('external-migration-tool', '')

    def get_xend_relocation_port(self):
        return self.get_config_int('xend-relocation-port', 8002)

    def get_xend_relocation_ssl_port(self):
        return self.get_config_int('xend-relocation-ssl-port', 8003)

    def get_xend_relocation_ssl(self):
        return self.get_config_bool('xend-relocation-ssl', 'no')


_instance = XendOptions()


def instance():
    return _instance
