#!/bin/bash
#
# make bench, the guest's TPM: what vtpm_backend adds to each TPM command
# against talking to swtpm's data socket directly (what a dom0 tool does).
# The guest side is tests/tools/tpmif_front on the shared page, with the
# grant table and event channels stood in for by tests/shim/tpmif_front_shim.so
# (a file and two FIFOs), so the numbers are the back end's own work plus
# the stand-in's notifications, not the hypervisor's or xen-tpmfront's (which
# polls the page every ~5 ms instead of taking the interrupt).
#
#   BENCH_N        commands per method (default 200; make bench-smoke uses 5)
#   VTPM_TEST_BIN  build folder
#
# Prints one line per method and the difference; exit 0 when it ran.
# shellcheck source-path=SCRIPTDIR
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/lib/fixtures.sh
. "$here/../tests/lib/fixtures.sh"
FX_TEST_NAME=backend-bench
fx_init

N=${BENCH_N:-200}
case $N in
'' | *[!0-9]* | 0) fx_fail "BENCH_N must be a positive number, not '$N'" ;;
esac
BACKEND=$(fx_bin vtpm_backend) || exit 1
FRONT=$(fx_bin tools/tpmif_front) || exit 1
SHIM=$(fx_bin shim/tpmif_front_shim.so) || exit 1
GETRANDOM8=80010000000c0000017b0008
BE=/local/domain/0/backend/vtpm/5/0
FE=/local/domain/5/device/vtpm/0
GNT=$FX_DIR/grants

fx_xenstored_start xenstored
fx_swtpm_running tpm tpm2
DATA=$(fx_swtpm_data tpm)
dd if=/dev/zero of="$GNT" bs=4096 count=1 status=none || fx_fail "grant file"
mkfifo "$FX_DIR/in" "$FX_DIR/out" || fx_fail "FIFOs"
fx_expect_ok "toolstack nodes" xenstore-write "$BE/frontend" "$FE" "$BE/frontend-id" 5 \
	"$BE/online" 1 "$BE/state" 1 "$BE/hotplug-status" connected "$FE/state" 1
(VTPM_SHIM_GNT=$GNT VTPM_SHIM_EVT_IN=$FX_DIR/in VTPM_SHIM_EVT_OUT=$FX_DIR/out LD_PRELOAD=$SHIM \
	exec "$BACKEND" --backend "$BE" --data "$DATA" --pidfile "$FX_DIR/be.pid" \
	2>"$FX_DIR/be.log" &)
fx_expect_ok "frontend ring" xenstore-write "$FE/ring-ref" 0 "$FE/event-channel" 7 \
	"$FE/feature-protocol-v2" 1 "$FE/state" 3
connected() { [ "$(xenstore-read "$BE/state" 2>/dev/null)" = 4 ]; }
fx_wait_for 10 connected ||
	fx_fail "back end did not connect: $(cat "$FX_DIR/be.log")"

# warm both paths, then measure them alternately in halves (noisy host)
"$FRONT" direct "$DATA" 20 "$GETRANDOM8" >/dev/null || fx_fail "direct warm-up"
"$FRONT" "$GNT" "$FX_DIR/in" "$FX_DIR/out" bench 0 20 "$GETRANDOM8" >/dev/null ||
	fx_fail "back end warm-up"
half=$(((N + 1) / 2))
d1=$("$FRONT" direct "$DATA" "$half" "$GETRANDOM8") || fx_fail "direct"
c1=$("$FRONT" direct1 "$DATA" "$half" "$GETRANDOM8") || fx_fail "direct, a connection each"
b1=$("$FRONT" "$GNT" "$FX_DIR/in" "$FX_DIR/out" bench 0 "$half" "$GETRANDOM8") || fx_fail "back end"
d2=$("$FRONT" direct "$DATA" "$half" "$GETRANDOM8") || fx_fail "direct"
c2=$("$FRONT" direct1 "$DATA" "$half" "$GETRANDOM8") || fx_fail "direct, a connection each"
b2=$("$FRONT" "$GNT" "$FX_DIR/in" "$FX_DIR/out" bench 0 "$half" "$GETRANDOM8") || fx_fail "back end"

# "n mean min" twice -> "mean min" over both halves
combine() { awk '{ n += $1; s += $1 * $2; if (min == "" || $3 < min) min = $3 } END { printf "%.1f %.1f\n", s / n, min }'; }
read -r dmean dmin < <(printf '%s\n%s\n' "$d1" "$d2" | combine)
read -r cmean cmin < <(printf '%s\n%s\n' "$c1" "$c2" | combine)
read -r bmean bmin < <(printf '%s\n%s\n' "$b1" "$b2" | combine)
echo "backend: TPM2_GetRandom(8), $((2 * half)) commands per method"
printf 'backend: %-52s mean %8.1f us  min %8.1f us\n' \
	"swtpm data socket, directly (one connection)" "$dmean" "$dmin" \
	"swtpm data socket, directly (a connection each)" "$cmean" "$cmin" \
	"through vtpm_backend (page, event stand-in, swtpm)" "$bmean" "$bmin"
awk -v a="$bmean" -v b="$dmean" -v c="$bmin" -v d="$dmin" \
	'BEGIN { printf "backend: added by the back end per command: mean %.1f us, min %.1f us\n", a - b, c - d }'
