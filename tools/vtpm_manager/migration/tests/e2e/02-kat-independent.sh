#!/bin/bash
#
# The known-answer vector, rebuilt from the spec by an independent
# implementation (Debian's python3-cryptography), matches byte for byte.
here=$(cd "$(dirname "$0")/.." && pwd)
/usr/bin/python3 "$here/tools/kat_independent.py" "$here/vectors/record-v1.hex"
