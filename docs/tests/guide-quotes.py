#!/usr/bin/env python3
"""The guide's section 6 quotes vtpm_migrate's and xend's lines as they are
printed: every quote of a helper's line ("vtpm_migrate: CMD: ..."), of what
became of a refused record ("...; record ...") and of a guest that resumes
without its TPM is matched by a format string of the C sources or of the
xend module, its placeholders (S, DIR, FILE, hostb, D, N) by conversions.
Prints the quotes no format matches; exit 1 if there is one."""
import glob
import re
import sys

GUIDE, MIG, XEND = sys.argv[1:4]
LIT = r'"(?:[^"\\\n]|\\.)*"'


def c_formats():
    defs, out = {}, []
    for path in glob.glob(MIG + '/*.[ch]'):
        src = open(path).read()
        defs.update(re.findall(r'#define (\w+) (' + LIT + ')', src))
        out.append(src)
    defs['PRIu64'] = '"lu"'
    # adjacent literals and macros naming literals, joined as the compiler does
    seq = re.compile(r'(?:(?:%s|\b(?:%s)\b)\s*)+' % (LIT, '|'.join(defs)))
    for src in out:
        for m in seq.finditer(src):
            parts = re.findall(r'%s|\w+' % LIT, m.group(0))
            text = ''.join(eval(defs.get(p, p)) for p in parts)
            yield re.sub(r'%[-0-9.]*l*[a-z]', '\0', text)


def py_formats():
    src = open(XEND).read().replace('\\\n', ' ')
    for m in re.finditer(r'(?:(?:%s|\'(?:[^\'\\\n]|\\.)*\')\s*)+' % LIT, src):
        parts = re.findall(r'%s|\'(?:[^\'\\\n]|\\.)*\'' % LIT, m.group(0))
        yield re.sub(r'%[-0-9.]*[a-z]', '\0', ''.join(eval(p) for p in parts))


def regex(fmt):
    return '.*'.join(re.escape(x) for x in fmt.split('\0'))


guide = open(GUIDE).read()
sec = guide[guide.index('\n6. Failures'):guide.index('\n7. Rollback')]
quotes = [' '.join(q.split()) for q in re.findall(r'"([^"]*)"', sec)]
wanted = [q for q in quotes if re.match(r'(\.\.\.; )?(vtpm_migrate: \w+: |record |'
                                        r'the guest resumes without)', q) or
          q.startswith('no verdict')]
fmts = [regex(f) for f in list(c_formats()) + list(py_formats()) if len(f) > 8]
bad = 0
for q in wanted:
    # "...; " stands for the line before; a helper's line is "vtpm_migrate: CMD: " then its message
    pieces = re.split(r'(?:^\.\.\.|vtpm_migrate: \w+: |; the guest resumes without its TPM: )', q)
    for piece in (p.strip('; ') for p in pieces):
        if re.fullmatch(r'[A-Z]*|.*\.\.\..*', piece):   # a placeholder, a cut
            continue
        if not any(re.fullmatch(f, piece) or re.fullmatch(f, 'X; ' + piece)
                   for f in fmts):
            print('not printed as quoted: "%s"' % piece)
            bad = 1
print('%d quotes of tool lines checked' % len(wanted))
sys.exit(bad)
