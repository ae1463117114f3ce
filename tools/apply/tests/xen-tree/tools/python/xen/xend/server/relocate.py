# Stand-in (tests only) for xend's relocation server protocol: one
# s-expression per request, "receive" / "sslreceive" hand the connection to
# domain_restore_fd, and a failure is answered with (err (type T) (value 'V'))
# on the relocation connection, which is then closed.  Successful requests
# are answered (ok) or (ok RESULT).
import os
import sys
import threading

from xen.xend import sxp
from xen.xend import XendDomain
from xen.xend.XendError import XendError
from xen.xend.XendLogging import log


class RelocationProtocol(object):

    def __init__(self, transport):
        self.transport = transport
        self.parser = sxp.Parser()

    def dataReceived(self, data):
        try:
            self.parser.input(data)
            while self.parser.ready():
                val = self.parser.get_val()
                res = self.dispatch(val)
                self.send_result(res)
        except SystemExit:
            raise
        except:
            self.send_error()

    def close(self):
        if self.transport:
            self.transport.close()

    def send_reply(self, sxpr):
        out = sxp.to_string(sxpr) + '\n'
        if self.transport:
            return self.transport.write(out)
        return 0

    def send_result(self, res):
        if res is None:
            resp = ['ok']
        else:
            resp = ['ok', res]
        return self.send_reply(resp)

    def send_error(self):
        (extype, exval) = sys.exc_info()[:2]
        return self.send_reply(['err',
                                ['type', str(extype)],
                                ['value', str(exval)]])

    def opname(self, name):
        return 'op_' + name.replace('.', '_')

    def operror(self, name, _):
        raise XendError('Invalid operation: ' + name)

    def dispatch(self, req):
        op_name = sxp.name(req)
        op_method_name = self.opname(op_name)
        op_method = getattr(self, op_method_name, self.operror)
        return op_method(op_name, req)

    def op_receive(self, name, _):
        if self.transport:
            self.send_reply(["ready", name])
            try:
                XendDomain.instance().domain_restore_fd(
                    self.transport.sock.fileno(), relocating=True)
            except:
                self.send_error()
                self.close()
        else:
            log.error(name + ": no transport")
            raise XendError(name + ": no transport")

    def op_sslreceive(self, name, _):
        # The SSL layer is not modelled: the connection is relayed into a
        # pipe by a thread, and the restore reads that pipe, as in xend.
        if self.transport:
            self.send_reply(["ready", name])
            p2cread, p2cwrite = os.pipe()
            relay = threading.Thread(target=self.transport.recv2fd,
                                     args=(p2cwrite,))
            relay.daemon = True
            relay.start()
            try:
                XendDomain.instance().domain_restore_fd(p2cread,
                                                        relocating=True)
            except:
                os.close(p2cread)
                self.send_error()
                self.close()
        else:
            log.error(name + ": no transport")
            raise XendError(name + ": no transport")


class Transport(object):
    """One accepted relocation connection."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def write(self, data):
        with self.lock:
            try:
                self.sock.sendall(data.encode())
            except (IOError, OSError):
                return 0
        return len(data)

    def close(self):
        try:
            self.sock.shutdown(2)
        except (IOError, OSError):
            pass

    def recv2fd(self, fd):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                while data:
                    data = data[os.write(fd, data):]
        except (IOError, OSError):
            pass
        finally:
            os.close(fd)

