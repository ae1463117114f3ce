# Stand-in (tests only): the parts of xend's s-expression module that the
# relocation protocol uses.  Atoms are bare words or single-quoted strings.
import re

_TOKEN = re.compile(r"\s*(\(|\)|'(?:[^'\\]|\\.)*'|[^\s()']+)")


class Parser(object):
    def __init__(self):
        self.buf = ''
        self.vals = []

    def input(self, data):
        if isinstance(data, bytes):
            data = data.decode('utf-8', 'replace')
        self.buf += data
        while True:
            val, rest = _parse(self.buf)
            if val is None:
                break
            self.vals.append(val)
            self.buf = rest

    def ready(self):
        return bool(self.vals)

    def get_val(self):
        return self.vals.pop(0)

    def at_eof(self):
        return False


def _parse(text):
    """(value, rest) of one complete expression at the start of text."""
    stack, pos = [], 0
    while True:
        m = _TOKEN.match(text, pos)
        if not m:
            return None, text
        tok, pos = m.group(1), m.end()
        if tok == '(':
            stack.append([])
            continue
        if tok == ')':
            if not stack:
                continue
            val = stack.pop()
        else:
            val = tok[1:-1] if tok.startswith("'") else tok
            if not stack and pos < len(text) and not text[pos].isspace():
                return None, text
        if not stack:
            return val, text[pos:]
        stack[-1].append(val)


def name(sxpr):
    return isinstance(sxpr, list) and sxpr[0] or sxpr


def child_value(sxpr, elt, val=None):
    """The value of the first child (elt VALUE) of sxpr."""
    for kid in sxpr[1:]:
        if isinstance(kid, list) and kid and kid[0] == elt:
            return len(kid) > 1 and kid[1] or val
    return val


def show(sxpr, out):
    out.write(to_string(sxpr))


def to_string(sxpr):
    if isinstance(sxpr, (list, tuple)):
        return '(' + ' '.join(to_string(x) for x in sxpr) + ')'
    s = str(sxpr)
    if re.match(r"^[^\s()']+$", s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
