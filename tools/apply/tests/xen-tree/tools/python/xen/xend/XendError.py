# Stand-in (tests only).


class XendError(Exception):
    pass


class VmError(XendError):
    pass
