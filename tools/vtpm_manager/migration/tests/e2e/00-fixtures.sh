#!/bin/bash
# The fixtures every other test stands on: swtpm (TPM 2.0 and 1.2) with
# recognisable state and deterministic snapshots, the real xenstored under
# the preload shim, and two "hosts" that reach each other over TCP.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init

fx_bin tools/tpm12_raw >/dev/null || exit 1

# ---- TPM 2.0 ----
fx_swtpm_running t2 tpm2
fx_swtpm_running fresh2 tpm2
fx_swtpm_alive t2 || fx_fail "swtpm t2 not alive after start"
tpm2_populate "$FX_DIR/t2" || fx_fail "tpm2_populate"
[ -s "$FX_DIR/t2/tpm2-loaded.handle" ] || fx_fail "no loaded key handle recorded"

tpm2_snapshot "$FX_DIR/t2" "$FX_DIR/t2.snap1" || fx_fail "tpm2_snapshot (1)"
tpm2_snapshot "$FX_DIR/t2" "$FX_DIR/t2.snap2" || fx_fail "tpm2_snapshot (2)"
[ -s "$FX_DIR/t2.snap1" ] || fx_fail "TPM 2.0 snapshot is empty"
cmp -s "$FX_DIR/t2.snap1" "$FX_DIR/t2.snap2" ||
	fx_fail "two snapshots of one TPM 2.0 differ: $(diff "$FX_DIR/t2.snap1" "$FX_DIR/t2.snap2" | head -n 5 | tr '\n' ' ')"
for bank in sha1 sha256; do
	grep -q "^ *$bank:" "$FX_DIR/t2.snap1" || fx_fail "snapshot lacks the $bank bank"
done
# PCR 7 was extended in both banks: no longer zero.
awk '/^ *sha1:/{b="sha1"} /^ *sha256:/{b="sha256"} /^ *sha384:/{b=""}
	b!="" && $1=="7" {print b, $3}' "$FX_DIR/t2.snap1" >"$FX_DIR/pcr7"
[ "$(grep -c . "$FX_DIR/pcr7")" -eq 2 ] || fx_fail "PCR 7 not found in sha1 and sha256"
if grep -qE ' 0x0+$' "$FX_DIR/pcr7"; then
	fx_fail "PCR 7 was not extended: $(tr '\n' ' ' <"$FX_DIR/pcr7")"
fi
grep -q '^nv 0x1500001 size 64 .*data 7674706d2d653265' "$FX_DIR/t2.snap1" ||
	fx_fail "NV marker index missing from the snapshot"
grep -q '^persistent 0x81000001 name 000b' "$FX_DIR/t2.snap1" ||
	fx_fail "persistent key missing from the snapshot"
grep -q "^transient $(cat "$FX_DIR/t2/tpm2-loaded.handle") name 000b[0-9a-f]* sign ok$" \
	"$FX_DIR/t2.snap1" || fx_fail "the loaded key does not sign"

tpm2_snapshot "$FX_DIR/fresh2" "$FX_DIR/fresh2.snap" || fx_fail "tpm2_snapshot (fresh)"
if cmp -s "$FX_DIR/t2.snap1" "$FX_DIR/fresh2.snap"; then
	fx_fail "a fresh TPM 2.0 gives the same snapshot as a populated one"
fi

# A TPM that does not answer: the snapshot fails.
fx_swtpm_waiting w2 tpm2
if tpm2_snapshot "$FX_DIR/w2" "$FX_DIR/w2.snap" 2>/dev/null; then
	fx_fail "tpm2_snapshot succeeded on a TPM that is not initialised"
fi

# Stop and restart on the same state directory: NV and the persistent key
# survive (PCRs and loaded objects do not).
fx_swtpm_stop t2
fx_swtpm_alive t2 && fx_fail "swtpm t2 still alive after fx_swtpm_stop"
fx_swtpm_running t2 tpm2
tpm2_snapshot "$FX_DIR/t2" "$FX_DIR/t2.snap3" || fx_fail "tpm2_snapshot after restart"
grep -q '^nv 0x1500001 size 64 .*data 7674706d2d653265' "$FX_DIR/t2.snap3" ||
	fx_fail "NV marker lost across restart"
[ "$(grep '^persistent' "$FX_DIR/t2.snap1")" = "$(grep '^persistent' "$FX_DIR/t2.snap3")" ] ||
	fx_fail "persistent key changed across restart"

# ---- TPM 1.2 ----
fx_swtpm_running t12 tpm12
fx_swtpm_running fresh12 tpm12
tpm12_populate "$FX_DIR/t12" || fx_fail "tpm12_populate"
tpm12_snapshot "$FX_DIR/t12" "$FX_DIR/t12.snap1" || fx_fail "tpm12_snapshot (1)"
tpm12_snapshot "$FX_DIR/t12" "$FX_DIR/t12.snap2" || fx_fail "tpm12_snapshot (2)"
[ "$(grep -c '^pcr ' "$FX_DIR/t12.snap1")" -eq 24 ] || fx_fail "TPM 1.2 snapshot lacks PCRs"
cmp -s "$FX_DIR/t12.snap1" "$FX_DIR/t12.snap2" || fx_fail "two snapshots of one TPM 1.2 differ"
grep -q '^pcr 10: 0000000000000000000000000000000000000000$' "$FX_DIR/t12.snap1" &&
	fx_fail "TPM 1.2 PCR 10 was not extended"
tpm12_snapshot "$FX_DIR/fresh12" "$FX_DIR/fresh12.snap" || fx_fail "tpm12_snapshot (fresh)"
cmp -s "$FX_DIR/t12.snap1" "$FX_DIR/fresh12.snap" &&
	fx_fail "a fresh TPM 1.2 gives the same snapshot as a populated one"
# A bad request gets one clear line and exit 1.
fx_expect_fail "tpm12_raw with PCR 24" "$VTPM_TEST_BIN/tools/tpm12_raw" "$FX_DIR/t12/data" read 24
fx_swtpm_waiting w12 tpm12
fx_expect_fail "tpm12_raw on a TPM that is not initialised" \
	"$VTPM_TEST_BIN/tools/tpm12_raw" "$FX_DIR/w12/data" read 0

# ---- xenstored ----
fx_xenstored_start xs
[ -S "$XENSTORED_PATH" ] || fx_fail "XENSTORED_PATH is not a socket"
fx_expect_ok "xenstore-write" xenstore-write /vtpm-e2e/a "value a" /vtpm-e2e/b "value b"
fx_expect_ok "xenstore-read" xenstore-read /vtpm-e2e/a
[ "$FX_OUT" = "value a" ] || fx_fail "xenstore-read gave '$FX_OUT'"
fx_expect_ok "xenstore-ls" xenstore-ls /vtpm-e2e
printf '%s\n' "$FX_OUT" | grep -q '^b = "value b"$' || fx_fail "xenstore-ls lacks b: $FX_OUT"
fx_expect_ok "xenstore-rm" xenstore-rm /vtpm-e2e/a
if xenstore-read /vtpm-e2e/a >/dev/null 2>&1; then
	fx_fail "node still readable after xenstore-rm"
fi

# A second domain's vTPM backend nodes, as xend and the hotplug script write them.
be=/local/domain/0/backend/vtpm/5/0
fx_expect_ok "write backend nodes" xenstore-write \
	"$be/uuid" 0b1c2d3e-0000-4000-8000-000000000005 \
	"$be/frontend-id" 5 "$be/resume" 1 \
	"$be/swtpm-ctrl" "$FX_DIR/t2/data.ctrl" \
	/local/domain/5/vm /vm/6f1e2d3c-0000-4000-8000-000000000005
fx_expect_ok "chmod backend" xenstore-chmod "$be" n0 r5
fx_expect_ok "read backend uuid" xenstore-read "$be/uuid"
[ "$FX_OUT" = 0b1c2d3e-0000-4000-8000-000000000005 ] || fx_fail "backend uuid reads '$FX_OUT'"
fx_expect_ok "list vtpm backends of domain 5" xenstore-list /local/domain/0/backend/vtpm/5
[ "$FX_OUT" = 0 ] || fx_fail "backend device list is '$FX_OUT'"
fx_expect_ok "ls -p backend" xenstore-ls -p "$be"
fx_expect_ok "permissions of the backend" xenstore-ls -p /local/domain/0/backend/vtpm/5
printf '%s\n' "$FX_OUT" | grep -q '(n0,r5)' ||
	fx_fail "permissions for domain 5 were not kept: $FX_OUT"
fx_expect_ok "read domain vm path" xenstore-read /local/domain/5/vm
fx_expect_ok "rm backend" xenstore-rm /local/domain/0/backend/vtpm/5
xenstore-read "$be/uuid" >/dev/null 2>&1 && fx_fail "backend still there after rm"
fx_xenstored_alive xs || fx_fail "xenstored died"
fx_xenstored_stop xs
fx_xenstored_alive xs && fx_fail "xenstored still alive after stop"

# ---- two hosts ----
fx_netns_pair
port=$(fx_free_port "$FX_NS_B") || exit 1
fx_in "$FX_NS_B" socat -u "TCP-LISTEN:$port,bind=$FX_ADDR_B,reuseaddr" \
	"OPEN:$FX_DIR/received,creat,trunc" &
for ((i = 0; i < 100; i++)); do
	[ -n "$(fx_in "$FX_NS_B" ss -Htln "( sport = :$port )")" ] && break
	sleep 0.05
done
echo "hello from A" | fx_in "$FX_NS_A" socat -u - "TCP:$FX_ADDR_B:$port,connect-timeout=5" ||
	fx_fail "no TCP from $FX_ADDR_A to $FX_ADDR_B:$port"
wait
[ "$(cat "$FX_DIR/received" 2>/dev/null)" = "hello from A" ] ||
	fx_fail "the other host did not receive the data"
if [ -n "$FX_NS_A" ]; then
	# A swtpm inside a namespace is reachable through its Unix sockets.
	fx_swtpm_running ns12 tpm12 "$FX_NS_A"
	tpm12_snapshot "$FX_DIR/ns12" "$FX_DIR/ns12.snap" || fx_fail "swtpm in a namespace"
fi
exit 0
