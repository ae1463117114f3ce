#!/bin/bash
# run-e2e: early
# sanitizer: yes
#
# The swtpm control module against real swtpm instances (tools/ctrl_copy):
# pulling the state of a running TPM and pushing it into a waiting one gives
# an identical TPM (TPM 2.0: PCRs in every bank, NV data, persistent key, the
# loaded key still signs, also with NV full; TPM 1.2: PCRs). A push into a TPM of the other
# version or into a running TPM is refused and leaves the destination as it
# was; a pull from a TPM that is not running is refused.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init

CC=$(fx_bin tools/ctrl_copy) || exit 1
fx_bin tools/tpm12_raw >/dev/null || exit 1

ctrl() { fx_swtpm_ctrl "$1"; }

# expect_status NAME "TPM 2.0 running": what ctrl_copy --status says.
expect_status() {
	fx_expect_ok "status of $1" "$CC" --status "$(ctrl "$1")"
	[ "$FX_OUT" = "$2" ] || fx_fail "$1: status '$FX_OUT', expected '$2'"
}

# ---- TPM 2.0: running, populated -> waiting ----
fx_swtpm_running src2 tpm2
fx_swtpm_waiting dst2 tpm2
tpm2_populate "$FX_DIR/src2" || fx_fail "tpm2_populate"
tpm2_snapshot "$FX_DIR/src2" "$FX_DIR/src2.before" || fx_fail "snapshot of the source"
expect_status dst2 "TPM 2.0 not running"

fx_expect_ok "ctrl_copy TPM 2.0" "$CC" "$(ctrl src2)" "$(ctrl dst2)"
fx_log "$(printf '%s\n' "$FX_OUT" | head -n 1)"
printf '%s\n' "$FX_OUT" | grep -q '^source: TPM 2.0, permanent [1-9][0-9]* bytes, volatile [1-9][0-9]* bytes' ||
	fx_fail "unexpected ctrl_copy output: $FX_OUT"

expect_status dst2 "TPM 2.0 running"
tpm2_snapshot "$FX_DIR/dst2" "$FX_DIR/dst2.after" || fx_fail "snapshot of the destination"
cmp -s "$FX_DIR/src2.before" "$FX_DIR/dst2.after" ||
	fx_fail "TPM 2.0 state differs after the copy: $(diff "$FX_DIR/src2.before" "$FX_DIR/dst2.after" | head -n 6 | tr '\n' ' ')"
grep -q ' sign ok$' "$FX_DIR/dst2.after" || fx_fail "the loaded key does not sign on the destination"
grep -q '^nv 0x1500001 ' "$FX_DIR/dst2.after" || fx_fail "NV index missing on the destination"
grep -q '^persistent 0x81000001 ' "$FX_DIR/dst2.after" || fx_fail "persistent key missing on the destination"
# The pull does not stop the source (send leaves it running and unchanged).
expect_status src2 "TPM 2.0 running"
tpm2_snapshot "$FX_DIR/src2" "$FX_DIR/src2.after" || fx_fail "source does not answer after the pull"
cmp -s "$FX_DIR/src2.before" "$FX_DIR/src2.after" || fx_fail "the pull changed the source"

# ---- TPM 2.0 with NV full (the largest state libtpms keeps) ----
fx_swtpm_running big2 tpm2
fx_swtpm_waiting bigdst2 tpm2
tpm2_populate "$FX_DIR/big2" || fx_fail "tpm2_populate (big)"
tpm2_populate_nv_bytes "$FX_DIR/big2" max || fx_fail "filling NV"
[ "$TPM2_NV_BYTES" -ge 100000 ] || fx_fail "NV took only $TPM2_NV_BYTES bytes"
tpm2_snapshot "$FX_DIR/big2" "$FX_DIR/big2.before" || fx_fail "snapshot of the full source"
fx_expect_ok "ctrl_copy TPM 2.0 with full NV" "$CC" "$(ctrl big2)" "$(ctrl bigdst2)"
fx_log "$(printf '%s\n' "$FX_OUT" | head -n 1)"
tpm2_snapshot "$FX_DIR/bigdst2" "$FX_DIR/bigdst2.after" || fx_fail "snapshot of the full destination"
cmp -s "$FX_DIR/big2.before" "$FX_DIR/bigdst2.after" || fx_fail "full NV state differs after the copy"
fx_swtpm_stop big2
fx_swtpm_stop bigdst2

# ---- TPM 1.2: running, populated -> waiting ----
fx_swtpm_running src12 tpm12
fx_swtpm_waiting dst12 tpm12
tpm12_populate "$FX_DIR/src12" || fx_fail "tpm12_populate"
tpm12_snapshot "$FX_DIR/src12" "$FX_DIR/src12.before" || fx_fail "snapshot of the TPM 1.2 source"
expect_status dst12 "TPM 1.2 not running"
fx_expect_ok "ctrl_copy TPM 1.2" "$CC" "$(ctrl src12)" "$(ctrl dst12)"
printf '%s\n' "$FX_OUT" | grep -q '^source: TPM 1.2, permanent [1-9][0-9]* bytes' ||
	fx_fail "unexpected ctrl_copy output: $FX_OUT"
expect_status dst12 "TPM 1.2 running"
tpm12_snapshot "$FX_DIR/dst12" "$FX_DIR/dst12.after" || fx_fail "snapshot of the TPM 1.2 destination"
cmp -s "$FX_DIR/src12.before" "$FX_DIR/dst12.after" ||
	fx_fail "TPM 1.2 PCRs differ after the copy: $(diff "$FX_DIR/src12.before" "$FX_DIR/dst12.after" | head -n 4 | tr '\n' ' ')"

# ---- refusals ----
# TPM 1.2 state into a waiting TPM 2.0, and the other way round.
fx_swtpm_waiting x2 tpm2
fx_expect_fail "TPM 1.2 state into a TPM 2.0" "$CC" "$(ctrl src12)" "$(ctrl x2)"
fx_log "refused: $FX_ERR"
expect_status x2 "TPM 2.0 not running"
if tpm2_snapshot "$FX_DIR/x2" "$FX_DIR/x2.snap" 2>/dev/null; then
	fx_fail "the TPM 2.0 answers after a refused TPM 1.2 push"
fi

fx_swtpm_waiting x12 tpm12
fx_expect_fail "TPM 2.0 state into a TPM 1.2" "$CC" "$(ctrl src2)" "$(ctrl x12)"
fx_log "refused: $FX_ERR"
expect_status x12 "TPM 1.2 not running"
if "$VTPM_TEST_BIN/tools/tpm12_raw" "$FX_DIR/x12/data" read 0 >/dev/null 2>&1; then
	fx_fail "the TPM 1.2 answers after a refused TPM 2.0 push"
fi

# The refused destinations still take the right state afterwards.
fx_expect_ok "ctrl_copy TPM 2.0 after a refusal" "$CC" "$(ctrl src2)" "$(ctrl x2)"
tpm2_snapshot "$FX_DIR/x2" "$FX_DIR/x2.snap" || fx_fail "snapshot of x2"
cmp -s "$FX_DIR/src2.before" "$FX_DIR/x2.snap" || fx_fail "x2 differs from the source"
fx_expect_ok "ctrl_copy TPM 1.2 after a refusal" "$CC" "$(ctrl src12)" "$(ctrl x12)"
tpm12_snapshot "$FX_DIR/x12" "$FX_DIR/x12.snap" || fx_fail "snapshot of x12"
cmp -s "$FX_DIR/src12.before" "$FX_DIR/x12.snap" || fx_fail "x12 differs from the source"

# Into a running TPM: refused, the destination keeps its own state.
fx_swtpm_running busy2 tpm2
tpm2_snapshot "$FX_DIR/busy2" "$FX_DIR/busy2.before" || fx_fail "snapshot of busy2"
fx_expect_fail "push into a running TPM 2.0" "$CC" "$(ctrl src2)" "$(ctrl busy2)"
fx_log "refused: $FX_ERR"
expect_status busy2 "TPM 2.0 running"
tpm2_snapshot "$FX_DIR/busy2" "$FX_DIR/busy2.after" || fx_fail "busy2 does not answer after the refusal"
cmp -s "$FX_DIR/busy2.before" "$FX_DIR/busy2.after" || fx_fail "a refused push changed a running TPM 2.0"

fx_swtpm_running busy12 tpm12
tpm12_snapshot "$FX_DIR/busy12" "$FX_DIR/busy12.before" || fx_fail "snapshot of busy12"
fx_expect_fail "push into a running TPM 1.2" "$CC" "$(ctrl src12)" "$(ctrl busy12)"
tpm12_snapshot "$FX_DIR/busy12" "$FX_DIR/busy12.after" || fx_fail "busy12 does not answer after the refusal"
cmp -s "$FX_DIR/busy12.before" "$FX_DIR/busy12.after" || fx_fail "a refused push changed a running TPM 1.2"

# Pull from a TPM that is not running, and from a socket nobody serves.
fx_swtpm_waiting idle2 tpm2
fx_swtpm_waiting idle2b tpm2
fx_expect_fail "pull from a TPM that is not running" "$CC" "$(ctrl idle2)" "$(ctrl idle2b)"
expect_status idle2b "TPM 2.0 not running"
fx_expect_fail "pull from a missing socket" "$CC" "$FX_DIR/nowhere/data.ctrl" "$(ctrl idle2b)"
expect_status idle2b "TPM 2.0 not running"

# A stopped source swtpm: its socket is gone, the pull fails cleanly.
fx_swtpm_stop src12
fx_expect_fail "pull from a stopped swtpm" "$CC" "$(ctrl src12)" "$(ctrl idle2b)"
exit 0
