#!/bin/bash
#
# R15: vtpm_migrate listens on nothing and runs nothing: its dynamic symbol
# table has no listen/accept/bind, and no system/popen/exec* (no command is
# ever built, let alone from data off the network or xenstore).
bin=${VTPM_TEST_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}/vtpm_migrate
[ -x "$bin" ] || { echo "FAIL: missing $bin"; exit 1; }
syms=$(nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//')
[ -n "$syms" ] || { echo "FAIL: no symbols read from $bin"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -xE 'listen|accept4?|bind|system|popen|exec[lv]p?e?|posix_spawnp?|fork|vfork')
if [ -n "$bad" ]; then
	echo "FAIL: vtpm_migrate imports: $bad"
	exit 1
fi
printf '%s\n' "$syms" | grep -qx connect || { echo "FAIL: symbol check reads nothing useful"; exit 1; }
echo "PASS: no listening socket, no process spawning in vtpm_migrate"
