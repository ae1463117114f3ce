#!/bin/bash
#
# make bench: time the vTPM step of a migration and compare it with the raw
# control channel and with a swtpm_ioctl script (see vtpm_bench.c for what
# each method measures). This script sets up; vtpm_bench measures and prints
# the table and one line per target.
#
#   BENCH_N        measured migrations per state (default 200; make
#                  bench-smoke uses 5)
#   BENCH_STATES   which source states (default "typical nv-64k nv-full";
#                  make bench-smoke uses "typical nv-64k": filling NV takes
#                  longer than measuring)
#   VTPM_TEST_BIN  build folder (vtpm_migrate, bench/vtpm_bench)
#   TMPDIR         where the private work directory goes (the tests' place)
#
# Three TPM 2.0 source states: "typical" (tpm2_populate: PCRs, an NV index, a
# persistent and a loaded key), "nv-64k" (the same plus 64 KiB of NV data)
# and "nv-full" (the same plus NV data until NV is full).
#
# The host key directories (keys, trusted peers, ledgers) are in the private
# temporary directory, on the filesystem the tests use; the report says which
# filesystem that is, because the ledger's and the mark's fsyncs cost much
# more on a disk.
#
# Exit 0 when the benchmark ran, whether or not the targets hold (it reports,
# it does not judge); 1 when it could not run.
# shellcheck source-path=SCRIPTDIR
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/lib/fixtures.sh
. "$here/../tests/lib/fixtures.sh"
# shellcheck source=../tests/lib/tpmstate.sh
. "$here/../tests/lib/tpmstate.sh"
FX_TEST_NAME=bench
fx_init

N=${BENCH_N:-200}
case $N in
'' | *[!0-9]* | 0) fx_fail "BENCH_N must be a positive number, not '$N'" ;;
esac

VM=$(fx_bin vtpm_migrate) || exit 1
HARNESS=$(fx_bin bench/vtpm_bench) || exit 1
for t in swtpm swtpm_ioctl tpm2_nvdefine tpm2_createprimary openssl; do
	command -v "$t" >/dev/null 2>&1 || fx_fail "missing $t (packages swtpm, swtpm-tools, tpm2-tools, openssl)"
done
SWTPM=$(command -v swtpm)
SWTPM_IOCTL=$(command -v swtpm_ioctl)

# ---- two hosts' key directories, as the e2e tests make them ---------------
for h in hosta hostb; do
	fx_expect_ok "keygen $h" "$VM" keygen -d "$FX_DIR/keys-$h" -n "$h"
done
fx_expect_ok "trust hostb on hosta" "$VM" trust -d "$FX_DIR/keys-hosta" "$FX_DIR/keys-hostb/host.pub"
fx_expect_ok "trust hosta on hostb" "$VM" trust -d "$FX_DIR/keys-hostb" "$FX_DIR/keys-hosta/host.pub"

fstype=$(df --output=fstype "$FX_DIR" 2>/dev/null | tail -n 1)
case $fstype in
tmpfs | ramfs) where="in the private temp directory, on $fstype (no disk: fsync is nearly free)" ;;
*) where="in the private temp directory, on ${fstype:-an unknown filesystem} (a disk: fsync waits for it)" ;;
esac

# ---- the source vTPMs ------------------------------------------------------
states=()
make_source() {
	local label=$1 extra=$2 name="src-$1" dir
	dir=$(fx_swtpm_dir "$name")
	fx_swtpm_running "$name" tpm2
	tpm2_populate "$dir" || fx_fail "tpm2_populate for $label"
	if [ -n "$extra" ]; then
		tpm2_populate_nv_bytes "$dir" "$extra" || fx_fail "filling NV for $label"
	fi
	states+=("$label:$(fx_swtpm_ctrl "$name"):$(cat /proc/sys/kernel/random/uuid)")
}
t0=$(date +%s)
read -r -a labels <<<"${BENCH_STATES:-typical nv-64k nv-full}"
fx_log "populating the source vTPMs: ${labels[*]}"
for label in "${labels[@]}"; do
	case $label in
	typical) make_source typical "" ;;
	nv-64k) make_source nv-64k 65536 ;;
	nv-full) make_source nv-full max ;;
	*) fx_fail "BENCH_STATES: unknown state '$label' (typical, nv-64k, nv-full)" ;;
	esac
done
fx_log "sources ready in $(($(date +%s) - t0)) s; measuring $N migrations per state"

# As a job, so that a signal to this script runs its clean-up at once (bash
# delays traps until a foreground command ends); the clean-up ends the job.
"$HARNESS" -n "$N" -w "$FX_DIR/work" -m "$VM" -s "$SWTPM" -i "$SWTPM_IOCTL" \
	-a "$FX_DIR/keys-hosta" -b "$FX_DIR/keys-hostb" -p hostb \
	-K "$where" "${states[@]}" &
wait $!
rc=$?
[ "$rc" -gt 128 ] && fx_fail "interrupted (vtpm_bench ended by signal $((rc - 128)))"
[ "$rc" -eq 0 ] || fx_fail "the benchmark could not run (vtpm_bench exit $rc)"
exit 0
