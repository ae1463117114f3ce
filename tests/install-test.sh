#!/bin/bash
# make install DESTDIR=$(mktemp -d) PREFIX=... from the top: every expected
# file in its place with its mode, nothing else installed, nothing written
# outside DESTDIR; then make uninstall leaves no file of ours behind.
# Runs for PREFIX=/usr and PREFIX=/usr/local. Ends with
# "install: N passed, N failed".
set -u
umask 022 # a packager's; parent folders made by install -d follow it
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# shellcheck source=SCRIPTDIR/lib/result.sh
. tests/lib/result.sh

# expected PREFIX: "MODE PATH" lines of what make install must put in DESTDIR
expected() {
	local prefix=$1 etc
	if [ "$prefix" = /usr ]; then etc=/etc; else etc=$prefix/etc; fi
	echo "755 $prefix/sbin/vtpm_migrate"
	echo "755 $prefix/sbin/vtpm_backend"
	echo "644 $prefix/lib/python2.7/site-packages/xen/xend/server/vtpm_migration.py"
	echo "755 $etc/xen/scripts/vtpm-swtpm"
	echo "755 $etc/xen/scripts/hotplugpath.sh"
	echo "644 $etc/xen/xend-config-vtpm-migration.sxp"
	echo "644 $prefix/share/man/man8/vtpm_migrate.8"
	echo "644 $prefix/share/man/man8/vtpm_backend.8"
	echo "644 $prefix/share/doc/xen/misc/vtpm-migration.txt"
	echo "644 $prefix/share/doc/xen/misc/vtpm-migration-record.txt"
}

# Files under the system folders an install could reach, newer than STAMP.
stray_files() {
	find /usr /etc /var/lib /opt -xdev -newer "$1" -type f 2>/dev/null |
		grep -v '/__pycache__/' | head -20
}

check_prefix() {
	local prefix=$1 dest="$WORK/dest${1//\//-}" stamp="$WORK/stamp" mode path got extra etc
	if [ "$prefix" = /usr ]; then etc=/etc; else etc=$prefix/etc; fi
	mkdir -p "$dest"
	: >"$stamp"
	sleep 1
	make -s install DESTDIR="$dest" PREFIX="$prefix" >"$WORK/install.log" 2>&1
	result "make install DESTDIR=... PREFIX=$prefix" $? "$(tail -n 5 "$WORK/install.log")"

	expected "$prefix" >"$WORK/expected"
	while read -r mode path; do
		if [ ! -f "$dest$path" ]; then
			result "$prefix: $path installed" 1 "missing"
			continue
		fi
		got=$(stat -c %a "$dest$path")
		[ "$got" = "$mode" ]
		result "$prefix: $path installed, mode $mode" $? "mode $got"
	done <"$WORK/expected"

	extra=$(cd "$dest" && find . -type f | sed 's|^\.||' | sort |
		comm -23 - <(awk '{ print $2 }' "$WORK/expected" | sort))
	[ -z "$extra" ]
	result "$prefix: nothing else installed" $? "$extra"

	extra=$(cd "$dest" && find . -mindepth 1 -type d ! -perm 755 | head -5)
	[ -z "$extra" ]
	result "$prefix: directories are 755" $? "$extra"

	"$dest$prefix/sbin/vtpm_migrate" --help >/dev/null 2>&1
	result "$prefix: installed vtpm_migrate runs" $?

	grep -qx "SBINDIR=\"$prefix/sbin\"" "$dest$etc/xen/scripts/hotplugpath.sh" 2>/dev/null &&
		grep -qx "XEN_CONFIG_DIR=\"$etc/xen\"" "$dest$etc/xen/scripts/hotplugpath.sh" 2>/dev/null
	result "$prefix: hotplugpath.sh names the install's SBINDIR and XEN_CONFIG_DIR" $?

	"$dest$etc/xen/scripts/vtpm-swtpm" >/dev/null 2>&1
	result "$prefix: installed vtpm-swtpm reads its paths (usage, exit 2)" "$([ $? -eq 2 ]; echo $?)"

	env MANPAGER=cat man -l "$dest$prefix/share/man/man8/vtpm_migrate.8" 2>/dev/null |
		grep -q 'vtpm_migrate - move'
	result "$prefix: installed man page renders" $?

	extra=$(stray_files "$stamp")
	[ -z "$extra" ]
	result "$prefix: nothing written outside DESTDIR" $? "$extra"

	make -s uninstall DESTDIR="$dest" PREFIX="$prefix" >"$WORK/uninstall.log" 2>&1
	result "$prefix: make uninstall" $? "$(tail -n 5 "$WORK/uninstall.log")"
	extra=$(cd "$dest" && find . -type f)
	[ -z "$extra" ]
	result "$prefix: uninstall leaves none of our files" $? "$extra"
}

# A Xen install's own hotplugpath.sh (its other scripts need it) is neither
# replaced by make install nor removed by make uninstall.
check_xen_paths_kept() {
	local dest="$WORK/dest-xen" f
	f=$dest/etc/xen/scripts/hotplugpath.sh
	mkdir -p "$(dirname "$f")"
	printf '%s\n' 'sbindir="/usr/sbin"' 'LIBEXEC="/usr/lib/xen-4.17"' >"$f"
	cp "$f" "$WORK/xen-paths"
	make -s install DESTDIR="$dest" PREFIX=/usr >"$WORK/install.log" 2>&1
	cmp -s "$f" "$WORK/xen-paths"
	result "make install keeps the Xen install's hotplugpath.sh" $? "$(cat "$f")"
	make -s uninstall DESTDIR="$dest" PREFIX=/usr >"$WORK/uninstall.log" 2>&1
	cmp -s "$f" "$WORK/xen-paths"
	result "make uninstall keeps the Xen install's hotplugpath.sh" $?
}

check_prefix /usr
check_prefix /usr/local
check_xen_paths_kept

echo "install: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
