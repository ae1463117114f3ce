# Stand-in (tests only) for the parts of xend's XendDomain that migration,
# save, restore and delete go through, in xend's order:
#  - domain_migrate: device step 0, connect to the destination's relocation
#    server, "receive" (or "sslreceive": a pipe and a relay thread into the
#    connection; the SSL layer itself is not modelled), XendCheckpoint.save
#    on the connection; when save fails, read the destination's
#    (err ...) answer for 3 s, and otherwise re-raise as Python 2 does: the
#    last exception caught in the frame, i.e. the socket timeout of that read;
#  - domain_save opens (and truncates) the file before save() runs;
#  - domain_delete (xm delete) and domain_delete_by_dominfo (a destroyed
#    transient or change-home-server domain) both end in
#    XendDevices.destroy_device_state.
# The domains themselves (XendDomainInfo) come from the test harness.
import os
import re
import socket
import threading

from xen.xend import XendCheckpoint
from xen.xend import XendOptions
from xen.xend.XendDevices import XendDevices
from xen.xend.XendError import XendError
from xen.xend.XendLogging import log

xoptions = XendOptions.instance()

# A failed live migration's connection stays open in xend: Python 2 keeps the
# exception's traceback, and with it the socket, in the thread that served it.
_failed = []


class XendDomain(object):

    def __init__(self):
        self.domains = {}
        self.make_domain = None      # set by the harness: vmconfig -> dominfo

    def add(self, dominfo):
        self.domains[dominfo.getDomid()] = dominfo

    def domain_lookup_nr(self, domid):
        for d in self.domains.values():
            if str(d.getDomid()) == str(domid) or d.getName() == domid:
                return d
        return None

    def restore_(self, vmconfig):
        dominfo = self.make_domain(vmconfig)
        self.add(dominfo)
        return dominfo

    def domain_restore(self, src, paused=False):
        try:
            fd = os.open(src, os.O_RDONLY)
            try:
                return self.domain_restore_fd(fd, paused=paused)
            finally:
                os.close(fd)
        except OSError as ex:
            raise XendError("can't read guest state file %s: %s" %
                            (src, ex.args[1]))

    def domain_restore_fd(self, fd, paused=False, relocating=False):
        return XendCheckpoint.restore(self, fd, paused=paused,
                                      relocating=relocating)

    def domain_migrate(self, domid, dst, live=False, port=0, node=-1,
                       ssl=None, chs=False):
        dominfo = self.domain_lookup_nr(domid)
        dominfo.testMigrateDevices(True, dst)
        if ssl is None:
            ssl = xoptions.get_xend_relocation_ssl()
        if ssl:
            self._domain_migrate_by_ssl(dominfo, dst, live, port, node)
        else:
            self._domain_migrate(dominfo, dst, live, port, node)

    def _domain_migrate_by_ssl(self, dominfo, dst, live, port, node):
        if port == 0:
            port = xoptions.get_xend_relocation_ssl_port()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.connect((_address(dst), port))
            sock.send(b"sslreceive\n")
            sock.recv(80)
        except socket.error as err:
            raise XendError("can't connect: %s" % err)

        p2cread, p2cwrite = os.pipe()
        relay = threading.Thread(target=_fd2send, args=(sock, p2cread))
        relay.daemon = True
        relay.start()

        try:
            try:
                XendCheckpoint.save(p2cwrite, dominfo, True, live, dst,
                                    node=node, sock=sock)
            except Exception as ex:
                _failed.append(sock)
                m_dsterr = None
                caught = ex
                try:
                    sock.settimeout(3.0)
                    dsterr = sock.recv(1024).decode()
                    sock.settimeout(None)
                    if dsterr:
                        m_dsterr = \
                            re.match(r"^\(err\s\(type\s(.+)\)\s\(value\s'(.+)'\)\)", dsterr)
                except Exception as e:
                    caught = e

                if m_dsterr:
                    raise XendError("%s (from %s)" % (m_dsterr.group(2), dst))
                raise caught  # xend's bare `raise` under Python 2
        finally:
            if not live:
                try:
                    sock.shutdown(2)
                except Exception:
                    pass
                sock.close()

        os.close(p2cwrite)

    def _domain_migrate(self, dominfo, dst, live, port, node):
        if port == 0:
            port = xoptions.get_xend_relocation_port()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(30.0)
            sock.connect((_address(dst), port))
            sock.send(b"receive\n")
            sock.recv(80)
            sock.settimeout(None)
        except socket.error as err:
            raise XendError("can't connect: %s" % err)

        try:
            try:
                XendCheckpoint.save(sock.fileno(), dominfo, True, live,
                                    dst, node=node, sock=sock)
            except Exception as ex:
                _failed.append(sock)
                m_dsterr = None
                caught = ex
                try:
                    sock.settimeout(3.0)
                    dsterr = sock.recv(1024).decode()
                    sock.settimeout(None)
                    if dsterr:
                        m_dsterr = \
                            re.match(r"^\(err\s\(type\s(.+)\)\s\(value\s'(.+)'\)\)", dsterr)
                except Exception as e:
                    caught = e

                if m_dsterr:
                    raise XendError("%s (from %s)" % (m_dsterr.group(2), dst))
                raise caught  # xend's bare `raise` under Python 2
        finally:
            if not live:
                try:
                    sock.shutdown(2)
                except Exception:
                    pass
                sock.close()

    def domain_save(self, domid, dst, checkpoint=False):
        try:
            dominfo = self.domain_lookup_nr(domid)
            oflags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            fd = os.open(dst, oflags)
            try:
                XendCheckpoint.save(fd, dominfo, False, False, dst,
                                    checkpoint=checkpoint)
            except Exception as e:
                os.close(fd)
                raise e
            os.close(fd)
        except OSError as ex:
            raise XendError("can't write guest state file %s: %s" %
                            (dst, ex.args[1]))

    def domain_delete(self, domid):
        try:
            dominfo = self.domain_lookup_nr(domid)
            self._domain_delete_by_info(dominfo)
        except Exception as ex:
            raise XendError(str(ex))

    def domain_delete_by_dominfo(self, dominfo):
        self._domain_delete_by_info(dominfo)

    def _domain_delete_by_info(self, dominfo):
        log.info("Domain %s (%s) deleted." %
                 (dominfo.getName(), dominfo.info.get('uuid')))
        self.domains.pop(dominfo.getDomid(), None)
        XendDevices.destroy_device_state(dominfo)


def _address(dst):
    """Test hosts share loopback: XEN_STANDIN_HOSTS maps their names."""
    for pair in os.environ.get('XEN_STANDIN_HOSTS', '').split(','):
        if pair.startswith(dst + '='):
            return pair.split('=', 1)[1]
    return dst


def _fd2send(sock, fd):
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            sock.sendall(data)
    except (IOError, OSError):
        pass
    finally:
        os.close(fd)


_instance = None


def instance():
    global _instance
    if _instance is None:
        _instance = XendDomain()
    return _instance
