#!/bin/bash
# Make this machine ready to build and test vTPM migration.
# As root with apt-get: install what is missing. Otherwise name it and stop.
#
# deps.sh --build: print, on one line, the packages a plain build lacks
# (nothing when it lacks none) and install nothing. It asks the compiler
# and pkg-config the build uses (CC, PATH, PKG_CONFIG_PATH), as the build
# will; the top-level Makefile stops with that line before building.
set -u

if [ "${1:-}" = --build ]; then
	read -r -a cc <<<"${CC:-cc}" # CC may carry flags: "gcc -m32"
	missing=()
	add() { case " ${missing[*]} " in *" $1 "*) ;; *) missing+=("$1") ;; esac; }
	command -v pkg-config >/dev/null 2>&1 || add pkg-config
	if command -v "${cc[0]}" >/dev/null 2>&1; then
		# package, a header it gives, its pkg-config module (- for none)
		while read -r pkg header module; do
			printf '#include <%s>\n' "$header" | "${cc[@]}" -E -x c - >/dev/null 2>&1 || add "$pkg"
			if [ "$module" != - ] && command -v pkg-config >/dev/null 2>&1; then
				pkg-config --exists "$module" 2>/dev/null || add "$pkg"
			fi
		done <<'LIST'
libxen-dev xenstore.h xenstore
libxen-dev xenctrl.h xencontrol
libxen-dev xengnttab.h xengnttab
libssl-dev openssl/evp.h libcrypto
check check.h check
swtpm-dev swtpm/tpm_ioctl.h -
LIST
	else
		add gcc
	fi
	printf '%s\n' "${missing[*]}"
	exit 0
fi

# package  -> a file that proves it is installed
need() {
	cat <<'LIST'
gcc /usr/bin/gcc
make /usr/bin/make
pkg-config /usr/bin/pkg-config
libxen-dev /usr/include/xenstore.h
xen-utils-4.17 /usr/lib/xen-4.17/bin/xenstored
xenstore-utils /usr/bin/xenstore-read
libssl-dev /usr/include/openssl/evp.h
check /usr/include/check.h
swtpm /usr/bin/swtpm
swtpm-tools /usr/bin/swtpm_setup
swtpm-dev /usr/include/swtpm/tpm_ioctl.h
libtpms-dev /usr/include/libtpms/tpm_library.h
tpm2-tools /usr/bin/tpm2_pcrread
clang /usr/bin/clang
libclang-rt-14-dev /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
valgrind /usr/bin/valgrind
python3 /usr/bin/python3
iproute2 /usr/bin/ip
man-db /usr/bin/man
socat /usr/bin/socat
shellcheck /usr/bin/shellcheck
perl /usr/bin/pod2man
git /usr/bin/git
xxd /usr/bin/xxd
openssl /usr/bin/openssl
procps /usr/bin/pgrep
binutils /usr/bin/nm
python3-cryptography /usr/lib/python3/dist-packages/cryptography/__init__.py
LIST
}

missing=()
while read -r pkg file; do
	[ -e "$file" ] || missing+=("$pkg")
done < <(need)

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
	exit 0
fi

echo "deps: missing packages: ${missing[*]} (install them, or run as root with apt-get)" >&2
exit 1
