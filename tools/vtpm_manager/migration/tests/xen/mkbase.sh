#!/bin/bash
# Build the cached, project-independent boot files for check-xen.sh:
#   OUT/xen.bin     Debian's Xen 4.17 hypervisor, uncompressed (QEMU loads it
#                   as a multiboot kernel)
#   OUT/vmlinuz     Debian's kernel (dom0 and the tiny guest)
#   OUT/xen-tpmfront.ko  that kernel's vTPM frontend module, for the guest
#   OUT/dom0.cpio   a debootstrap Debian 12 dom0: Xen tools, swtpm, tpm2-tools,
#                   the kernel's Xen back-end modules; newc, uncompressed
#                   (fastest to unpack under software emulation)
#   OUT/versions    the package versions inside
#
# Usage: mkbase.sh OUT CACHE
# Everything comes from the Debian mirrors apt already uses on this host; the
# downloaded packages are kept in CACHE/debs for the next build. Runs as root
# (debootstrap, chroot). Touches nothing outside OUT and CACHE.
set -eu
set -o pipefail

out=$1 cache=$2
debs=$cache/debs
work=$cache/work.$$
mkdir -p "$debs" "$cache/debootstrap"

cleanup() { rm -rf "$work"; }
trap cleanup EXIT

say() { echo "mkbase: $*"; }

# Packages the dom0 gets on top of debootstrap's minbase. The project's
# binaries need libxenstore, libxenctrl and libcrypto: xen-utils-4.17 and
# libssl3 bring them.
DOM0_PKGS=(xen-utils-4.17 xenstore-utils swtpm swtpm-tools tpm2-tools
	libtss2-tcti-swtpm0 libssl3 kmod procps iproute2)

# The Debian mirrors and suites this host's apt uses (origin Debian only).
debian_sources() {
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
	apt-get indextargets --format '$(ORIGIN) $(REPO_URI) $(RELEASE) $(COMPONENT)' \
		'Created-By: Packages' | awk '$1 == "Debian" { print "deb", $2, $3, $4 }' | sort -u
}
mirror=$(debian_sources | awk '$3 == "bookworm" { print $2; exit }')
[ -n "$mirror" ] || { echo "mkbase: apt has no Debian bookworm source" >&2; exit 1; }

kpkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "mkbase: cannot resolve linux-image-amd64" >&2; exit 1; }

mkdir -p "$work/x" "$out.tmp"
say "downloading xen-hypervisor-4.17-amd64 $kpkg"
(cd "$debs" && apt-get download -q=2 -o APT::Sandbox::User=root xen-hypervisor-4.17-amd64 "$kpkg")
for p in xen-hypervisor-4.17-amd64 "$kpkg"; do
	v=$(apt-cache policy "$p" | awk '/Candidate:/ { print $2 }')
	dpkg -x "$debs/${p}_${v//:/%3a}_amd64.deb" "$work/x"
done
xen=$(ls "$work"/x/boot/xen-4.17-amd64.gz)
zcat "$xen" > "$out.tmp/xen.bin"
kver=${kpkg#linux-image-}
cp "$work/x/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
# The guest's TPM frontend (Debian: CONFIG_TCG_XEN=m), for the guest initrd.
tpmfront=$(find "$work/x/lib/modules/$kver" -name 'xen-tpmfront.ko*' | head -1)
[ -n "$tpmfront" ] || { echo "mkbase: no xen-tpmfront module in $kpkg" >&2; exit 1; }
case $tpmfront in
*.xz) xz -dc "$tpmfront" > "$out.tmp/xen-tpmfront.ko" ;;
*) cp "$tpmfront" "$out.tmp/xen-tpmfront.ko" ;;
esac

say "debootstrap (minbase, bookworm) from $mirror"
root=$work/root
debootstrap --variant=minbase --cache-dir="$cache/debootstrap" \
	bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }

# Same sources and package lists as the host, so the dom0 gets exactly the
# versions the host builds against (Xen from bookworm-security, for instance).
debian_sources > "$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$debs"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true

say "installing ${DOM0_PKGS[*]}"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive apt-get update -q=2 > "$work/apt.log" 2>&1 ||
	{ tail -20 "$work/apt.log" >&2; exit 1; }
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 --no-install-recommends \
	"${DOM0_PKGS[@]}" >> "$work/apt.log" 2>&1 ||
	{ tail -20 "$work/apt.log" >&2; exit 1; }
mv -f "$root"/var/cache/apt/archives/*.deb "$debs/" 2>/dev/null || true
rm -f "$root/usr/sbin/policy-rc.d"

# swtpm_setup creates its local CA (RSA keys) the first time a vTPM gets EK
# certificates: a second natively, minutes under emulation. Do it here.
mkdir -p "$root/tmp/ca-warmup"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	swtpm_setup --tpm2 --tpm-state /tmp/ca-warmup --createek --create-ek-cert \
	--create-platform-cert > "$work/swtpm_setup.log" 2>&1 ||
	{ tail -5 "$work/swtpm_setup.log" >&2; exit 1; }
rm -rf "$root/tmp/ca-warmup"

# Only the kernel modules dom0 needs: the Xen drivers and back-ends.
mods=$root/lib/modules/$kver
mkdir -p "$mods/kernel/drivers" "$mods/kernel/drivers/net" "$mods/kernel/drivers/block"
cp -a "$work/x/lib/modules/$kver/kernel/drivers/xen" "$mods/kernel/drivers/"
cp -a "$work/x/lib/modules/$kver"/kernel/drivers/net/xen-netback "$mods/kernel/drivers/net/" 2>/dev/null || true
cp -a "$work/x/lib/modules/$kver"/kernel/drivers/block/xen-blkback "$mods/kernel/drivers/block/" 2>/dev/null || true
cp "$work/x/lib/modules/$kver"/modules.builtin* "$work/x/lib/modules/$kver/modules.order" "$mods/"
chroot "$root" /sbin/depmod "$kver"

chroot "$root" dpkg-query -W xen-utils-4.17 xenstore-utils swtpm tpm2-tools libssl3 \
	> "$out.tmp/versions"
echo "xen-hypervisor-4.17-amd64	$(apt-cache policy xen-hypervisor-4.17-amd64 | awk '/Candidate:/ { print $2 }')" >> "$out.tmp/versions"
echo "$kpkg	$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')" >> "$out.tmp/versions"

# Nothing the tests read: smaller archive, faster boot.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
	"$root"/usr/share/locale/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
	"$root"/var/cache/debconf/*-old "$root"/var/log/*.log

say "packing dom0.cpio"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc --quiet) > "$out.tmp/dom0.cpio"
rm -rf "$out"
mv "$out.tmp" "$out"
say "done: $(du -sh "$out" | cut -f1) in $out"
