#!/bin/bash
# make check-xen: Xen mode of vtpm_migrate on a real Xen 4.17 hypervisor.
#
# Builds the boot files from Debian 12 packages only (mkbase.sh: the Xen
# hypervisor, the Debian kernel, a debootstrap dom0 with the Xen tools, swtpm
# and tpm2-tools), appends the project's freshly built vtpm_migrate, the vTPM
# hotplug script(s) from tools/examples and the test scripts as a second cpio,
# boots Xen under QEMU's software emulation (TCG), runs steps.sh inside dom0,
# prints its marker lines, and exits non-zero if a step failed or the run
# timed out. The host's /boot and boot loader are never touched.
#
# Usage: check-xen.sh [--can-run | --build-only]
#   --can-run     say whether this machine can run it (exit 0) or why not (1)
#   --build-only  build (or reuse) the boot files, do not boot
# Environment:
#   VTPM_XEN_CACHE    cache folder, outside the source tree
#                     (default /var/cache/vtpm-migration-xen)
#   VTPM_TEST_BIN     folder holding the vtpm_migrate to test (default: the
#                     build folder `make` fills, the one the unit tests use)
#   VTPM_XEN_TIMEOUT  seconds allowed for the boot and the steps (default 900)
#   VTPM_XEN_VERBOSE  1: show the whole console, not only the markers
#   VTPM_XEN_REBUILD  1: rebuild the dom0 base even if it is cached
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
mig=$(cd "$here/../.." && pwd)
top=$(cd "$mig/../../.." && pwd)
cache=${VTPM_XEN_CACHE:-/var/cache/vtpm-migration-xen}
bin=${VTPM_TEST_BIN:-$mig/build}
limit=${VTPM_XEN_TIMEOUT:-900}
t0=$(date +%s)

case ${1:-} in
'' | --can-run | --build-only) ;;
*)
	echo "usage: check-xen.sh [--can-run | --build-only]" >&2
	exit 2
	;;
esac

say() { echo "check-xen: $*"; }
die() { echo "check-xen: $*" >&2; exit 1; }

HOST_PKGS="qemu-system-x86 debootstrap cpio busybox-static"

# --- can this machine run it? ------------------------------------------------------

why_not() {
	[ "$(uname -m)" = x86_64 ] || { echo "not an x86_64 machine ($(uname -m))"; return; }
	[ "$(id -u)" -eq 0 ] || { echo "needs root (debootstrap, chroot, package installs)"; return; }
	command -v apt-get > /dev/null ||
		{ echo "no apt-get: the boot files are built from Debian packages"; return; }
	grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release ||
		{ echo "not Debian 12: the dom0 must be the release the binaries were built on"; return; }
	local kb
	kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	[ "${kb:-0}" -ge 3000000 ] ||
		{ echo "less than 3 GB of memory available (QEMU takes 2 GB)"; return; }
	local free_kb
	mkdir -p "$cache" 2> /dev/null
	free_kb=$(df -Pk "$cache" 2> /dev/null | awk 'NR == 2 { print $4 }')
	[ "${free_kb:-0}" -ge 2000000 ] ||
		{ echo "less than 2 GB free for the cache in $cache"; return; }
}

if [ "${1:-}" = --can-run ]; then
	reason=$(why_not)
	if [ -n "$reason" ]; then
		say "this machine cannot run the real-Xen test: $reason"
		exit 1
	fi
	say "this machine can run the real-Xen test (x86_64, root, Debian 12, QEMU TCG)"
	exit 0
fi

reason=$(why_not)
[ -z "$reason" ] || die "cannot run here: $reason"

# The cache holds hundreds of MB: never inside the source tree.
case "$(realpath -m "$cache")/" in
"$(realpath "$top")"/*) die "VTPM_XEN_CACHE ($cache) is inside the source tree; put it elsewhere" ;;
esac
mkdir -p "$cache"
exec 9> "$cache/lock"
flock -n 9 || { say "waiting for another check-xen run to finish"; flock 9; }

[ -x "$bin/vtpm_migrate" ] || die "no $bin/vtpm_migrate: run 'make' first (make check-xen does)"

# --- host packages ---------------------------------------------------------------

static_busybox() { [ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1; }
host_ready() {
	command -v qemu-system-x86_64 > /dev/null && command -v debootstrap > /dev/null &&
		command -v cpio > /dev/null && static_busybox
}
if ! host_ready; then
	say "installing host packages: $HOST_PKGS"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q=2 > /dev/null || die "apt-get update failed"
	# shellcheck disable=SC2086
	apt-get install -y -q=2 --no-install-recommends $HOST_PKGS > "$cache/apt-host.log" 2>&1 ||
		{ tail -5 "$cache/apt-host.log" >&2; die "apt-get install $HOST_PKGS failed"; }
	host_ready || die "host packages still missing after the install"
fi

# --- the dom0 base (cached) --------------------------------------------------------

candidate() { apt-cache policy "$1" 2> /dev/null | awk '/Candidate:/ { print $2 }'; }
key_pkgs="xen-hypervisor-4.17-amd64 linux-image-amd64 xen-utils-4.17 swtpm tpm2-tools libssl3"
case $(candidate xen-hypervisor-4.17-amd64) in
'' | '(none)') apt-get update -q=2 > /dev/null ;;
esac
base_key=$({
	sha256sum < "$here/mkbase.sh"
	for p in $key_pkgs; do echo "$p $(candidate "$p")"; done
} | sha256sum | cut -c1-16)
base=$cache/base-$base_key

tb=$(date +%s)
if [ "${VTPM_XEN_REBUILD:-0}" = 1 ] || [ ! -s "$base/dom0.cpio" ]; then
	say "building the dom0 base from Debian packages (cached in $base)"
	"$here/mkbase.sh" "$base" "$cache" || die "building the dom0 base failed"
	# older bases are of no further use
	for d in "$cache"/base-*; do
		[ "$d" = "$base" ] || rm -rf "$d"
	done
	base_built="built in $(($(date +%s) - tb)) s"
else
	base_built="cached"
fi
say "dom0 base $base_key ($base_built): $(tr '\t' ' ' < "$base/versions" | paste -sd, | sed 's/,/, /g')"

# --- the project's files: a second cpio, rebuilt when any of them changes --------

stage=$cache/project.d
rm -rf "$stage"
mkdir -p "$stage/vtpm-xen" "$stage/usr/sbin" "$stage/etc/xen/scripts" "$stage/guest/bin"
install -m 0755 "$here/dom0-init" "$stage/init"
install -m 0755 "$here/steps.sh" "$here/migrate-proxy.pl" "$stage/vtpm-xen/"
install -m 0755 "$bin/vtpm_migrate" "$stage/usr/sbin/vtpm_migrate"
[ -x "$bin/vtpm_backend" ] || die "no $bin/vtpm_backend: run 'make' first (make check-xen does)"
install -m 0755 "$bin/vtpm_backend" "$stage/usr/sbin/vtpm_backend"
install -m 0755 "$bin/tools/tpm12_raw" "$stage/vtpm-xen/tpm12_raw"
# The project's hotplug/instance scripts (tools/examples, the files that
# start with #!) go where xend runs them from.
scripts=""
for f in "$top"/tools/examples/*; do
	{ [ -f "$f" ] && [ "$(head -c2 "$f")" = '#!' ]; } || continue
	install -m 0755 "$f" "$stage/etc/xen/scripts/"
	scripts="$scripts ${f##*/}"
done
cp "$base/vmlinuz" "$stage/vtpm-xen/vmlinuz"
# The tiny guest: the same kernel, a static busybox initrd.
install -m 0755 "$here/guest-init" "$stage/guest/init"
cp /bin/busybox "$stage/guest/bin/busybox"
# It uses its vTPM itself: Linux's frontend module and a static raw-command tool.
mkdir -p "$stage/guest/lib"
cp "$base/xen-tpmfront.ko" "$stage/guest/lib/xen-tpmfront.ko"
${CC:-cc} -static -O2 -Wall -Wextra -Werror -o "$stage/guest/bin/tpm_guest" "$here/tpm_guest.c" ||
	die "building the guest's tpm_guest (static) failed"
ln -s busybox "$stage/guest/bin/sh"
# Fixed times, no name in the gzip header: the same inputs give the same bytes.
find "$stage/guest" -exec touch -h -d @0 {} +
(cd "$stage/guest" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -1n) \
	> "$stage/vtpm-xen/guest.cpio.gz"
rm -rf "$stage/guest"

proj_key=$({
	echo "$base_key"
	(cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
	(cd "$stage" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
} | sha256sum | cut -c1-16)
initrd=$cache/initrd.cpio
if [ -s "$initrd" ] && [ "$(cat "$cache/initrd.key" 2> /dev/null)" = "$proj_key" ]; then
	proj_built="unchanged, reused"
else
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc --quiet) \
		> "$cache/project.cpio" || die "packing the project cpio failed"
	# Linux unpacks concatenated cpio archives in order: ours goes on top.
	cat "$base/dom0.cpio" "$cache/project.cpio" > "$initrd.tmp" && mv "$initrd.tmp" "$initrd"
	echo "$proj_key" > "$cache/initrd.key"
	proj_built="rebuilt"
fi
bin_sum=$(sha256sum "$bin/vtpm_migrate" | cut -c1-64)
say "project files $proj_key ($proj_built): vtpm_migrate sha256 ${bin_sum:0:16}..., hotplug scripts:${scripts:- none}"
t_build=$(($(date +%s) - t0))
say "build time ${t_build} s"

[ "${1:-}" = --build-only ] && exit 0

# --- boot -------------------------------------------------------------------------

# The CPU has no AVX: under TCG, a guest process restored or migrated by Xen
# has died of SIGILL on an AVX instruction glibc's ifuncs chose at its start
# (the guest's init, busybox, once: the guest panicked). Without AVX in CPUID
# nothing chooses it.
qcpu=max,-smap,-rdtscp,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq
qarg() { printf '%s' "${1//,/,,}"; }   # a comma inside -initrd is written ,,
log=$cache/console.log
[ -f "$log" ] && mv -f "$log" "$log.1"
say "booting Xen 4.17 under QEMU (TCG, 2 CPUs, 2 GB), limit ${limit} s; console in $log"
tq=$(date +%s)
timeout -k 10 "$limit" qemu-system-x86_64 \
	-accel tcg -machine q35 -cpu "$qcpu" -m 2048 -smp 2 \
	-display none -monitor none -serial stdio -no-reboot -nodefaults \
	-kernel "$base/xen.bin" \
	-append "console=com1 com1=115200 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 dom0_vcpus_pin loglvl=all guest_loglvl=all noreboot" \
	-initrd "$(qarg "$base/vmlinuz") console=hvc0 rdinit=/init quiet,$(qarg "$initrd")" \
	< /dev/null 2>&1 | stdbuf -oL tr -d '\r\000' | tee "$log" |
	if [ "${VTPM_XEN_VERBOSE:-0}" = 1 ]; then cat; else grep -a --line-buffered -E '^ *@@(STEP|END)'; fi
qrc=${PIPESTATUS[0]}
t_qemu=$(($(date +%s) - tq))

# --- verdict ----------------------------------------------------------------------

fail=""
[ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ] && fail="timed out after ${limit} s"
[ -z "$fail" ] && [ "$qrc" -ne 0 ] && fail="QEMU exited with status $qrc"
grep -aq '^@@END rc=' "$log" || fail=${fail:-"dom0 never reached the end of the steps"}
end_rc=$(sed -n 's/^@@END rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
[ -n "$end_rc" ] && [ "$end_rc" -ne 0 ] && fail=${fail:-"$end_rc step(s) failed"}
for s in 0 0.1 1 2 3 4 5 6; do
	grep -aqE "^ *@@STEP $s [^:]*: PASS" "$log" || fail=${fail:-"step $s did not pass"}
done
grep -aqE '^ *@@STEP [0-9.]+ [^:]*: FAIL' "$log" && fail=${fail:-"a step failed"}
ran_sum=$(sed -n 's/^@@BIN vtpm_migrate sha256=\([0-9a-f]*\).*/\1/p' "$log" | tail -1)
if [ "$ran_sum" = "$bin_sum" ]; then
	say "dom0 ran $bin/vtpm_migrate (sha256 ${bin_sum:0:16}...), the build the unit tests use"
else
	fail=${fail:-"dom0 ran a vtpm_migrate with sha256 '${ran_sum:-none}', not $bin/vtpm_migrate"}
fi
be_sum=$(sha256sum "$bin/vtpm_backend" | cut -c1-64)
ran_be=$(sed -n 's/^@@BIN vtpm_backend sha256=\([0-9a-f]*\).*/\1/p' "$log" | tail -1)
[ "$ran_be" = "$be_sum" ] ||
	fail=${fail:-"dom0 ran a vtpm_backend with sha256 '${ran_be:-none}', not $bin/vtpm_backend"}

t_total=$(($(date +%s) - t0))
say "times: build ${t_build} s (dom0 base $base_built), QEMU boot + steps ${t_qemu} s, total ${t_total} s"
if [ -n "$fail" ]; then
	echo "check-xen: --- last lines of the console ($log) ---"
	grep -av '^(XEN)' "$log" | tail -60
	say "FAILED: $fail"
	exit 1
fi
say "PASSED: every step passed inside a real Xen 4.17 dom0"
exit 0
