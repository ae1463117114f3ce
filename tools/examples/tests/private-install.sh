#!/bin/bash
# private-install.sh DIR [KEY=VALUE...]: vtpm-swtpm installed for a test as a
# Xen install has it, with DIR in place of /etc/xen: the script, unchanged,
# in DIR/scripts beside a hotplugpath.sh (SBINDIR /usr/sbin, BINDIR
# /usr/bin, XEN_CONFIG_DIR DIR), and the settings file DIR/vtpm-swtpm.conf
# holding the KEY=VALUE lines given. Run the script as DIR/scripts/vtpm-swtpm
# (it takes its settings from those files alone); run this again to change
# them. One vTPM's own settings go to DIR/vtpm-swtpm.d/UUID.conf.
set -u
if [ $# -lt 1 ] || [ "${1#/}" = "$1" ]; then
	echo "usage: private-install.sh /ABSOLUTE/DIR [KEY=VALUE...]" >&2
	exit 2
fi
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/scripts" &&
	cp "$here/../vtpm-swtpm" "$dir/scripts/vtpm-swtpm" &&
	printf '%s\n' 'SBINDIR="/usr/sbin"' 'BINDIR="/usr/bin"' "XEN_CONFIG_DIR=\"$dir\"" \
		"XEN_SCRIPT_DIR=\"$dir/scripts\"" >"$dir/scripts/hotplugpath.sh" &&
	printf '%s\n' "$@" >"$dir/vtpm-swtpm.conf"
