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
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

result() { # result NAME STATUS [DETAIL]
	if [ "$2" -eq 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok: $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL: $1${3:+: $3}"
	fi
}

# expected PREFIX: "MODE PATH" lines of what make install must put in DESTDIR
expected() {
	local prefix=$1 etc
	if [ "$prefix" = /usr ]; then etc=/etc; else etc=$prefix/etc; fi
	echo "755 $prefix/sbin/vtpm_migrate"
	echo "755 $prefix/sbin/vtpm_backend"
	echo "644 $prefix/lib/python2.7/site-packages/xen/xend/server/vtpm_migration.py"
	echo "755 $etc/xen/scripts/vtpm-swtpm"
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
	local prefix=$1 dest="$WORK/dest${1//\//-}" stamp="$WORK/stamp" mode path got extra
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

check_prefix /usr
check_prefix /usr/local

echo "install: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
