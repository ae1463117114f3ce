#!/bin/bash
# sanitizer: yes
#
# The checks made before a byte is sent, by the helper itself: `send --check`
# runs every check send makes short of touching the TPM state and reports
# what send would do; `recv --check` says whether this host would accept a
# record from that sender for that vTPM at that generation. Neither writes
# to a stream, a ledger or the TPM.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

LD=$(fx_bin tools/ledger_dump) || exit 1
U=0c4ec4ec-0000-4c0c-8c0c-0c4ec4ec0001
mig_peers
mig_host hostc
ID_A=$(sed -n 's/^id //p' "$KA/host.pub")
ID_B=$(sed -n 's/^id //p' "$KB/host.pub")
ID_C=$(sed -n 's/^id //p' "$FX_DIR/keys-hostc/host.pub")

fx_swtpm_running src tpm2
mig_fill src tpm2
SRC=(--ctrl "$(fx_swtpm_ctrl src)" --uuid "$U")

# ---- send --check ----
ledger_before=$("$LD" "$KA")
fx_expect_ok "send --check" "$VM" send -d "$KA" --to hostb "${SRC[@]}" --check
expected="vtpm-uuid $U
generation 1
tpm-version 2
sender $ID_A
recipient hostb"
[ "$FX_OUT" = "$expected" ] || fx_fail "send --check printed: $FX_OUT"
[ -z "$FX_ERR" ] || fx_fail "send --check wrote to stderr: $FX_ERR"
[ "$("$LD" "$KA")" = "$ledger_before" ] || fx_fail "send --check changed the ledger"
[ -e "$FX_DIR/src/vtpm-left" ] && fx_fail "send --check left a mark"
mig_tpm_running src || fx_fail "send --check stopped the TPM"
mig_snapshot src tpm2 checked
mig_same src.before src.checked
echo "ok: send_check_reports_what_send_would_do_and_writes_nothing"

# It reports the generation send would take now.
"$VM" send -d "$KA" --to hostb "${SRC[@]}" >"$FX_DIR/first.rec" || fx_fail "send"
fx_expect_fail "send --check while the mark of a sent record stands" \
	"$VM" send -d "$KA" --to hostb "${SRC[@]}" --check
printf '%s\n' "$FX_ERR" | grep -q 'left this host at generation 1' || fx_fail "mark: $FX_ERR"
fx_expect_ok "recover --force" "$VM" recover --force "${SRC[@]}"
fx_expect_ok "send --check after a send" "$VM" send -d "$KA" --to hostb "${SRC[@]}" --check
printf '%s\n' "$FX_OUT" | grep -qx 'generation 2' || fx_fail "after one send: $FX_OUT"
fx_expect_ok "send --check to self" "$VM" send -d "$KA" --to self "${SRC[@]}" --check
printf '%s\n' "$FX_OUT" | grep -qx 'recipient hosta' || fx_fail "to self: $FX_OUT"
echo "ok: send_check_reports_the_next_generation"

# Every refusal send would make, with send's own line.
fx_expect_fail "send --check to an untrusted peer" "$VM" send -d "$KA" --to hostc "${SRC[@]}" --check
printf '%s\n' "$FX_ERR" | grep -q "'hostc' is not a trusted peer" || fx_fail "untrusted: $FX_ERR"
# A destination that cannot be a key name (an IPv6 address, a path) is
# refused by name, before any peer file is looked at.
for bad in '::1' '../peers/hostb' "$(printf 'x%.0s' $(seq 64))"; do
	fx_expect_fail "send --check to '$bad'" "$VM" send -d "$KA" --to "$bad" "${SRC[@]}" --check
	printf '%s\n' "$FX_ERR" | grep -qF "'$bad' is not usable as a peer key name" || fx_fail "name '$bad': $FX_ERR"
done
cp -a "$KA" "$FX_DIR/keys-loose"
chmod 0640 "$FX_DIR/keys-loose/host.key"
fx_expect_fail "send --check with a host key others can read" \
	"$VM" send -d "$FX_DIR/keys-loose" --to hostb "${SRC[@]}" --check
printf '%s\n' "$FX_ERR" | grep -q 'host.key' || fx_fail "loose key: $FX_ERR"
fx_swtpm_waiting waiting tpm2
fx_expect_fail "send --check of a TPM that does not run" \
	"$VM" send -d "$KA" --to hostb --ctrl "$(fx_swtpm_ctrl waiting)" --uuid "$U" --check
printf '%s\n' "$FX_ERR" | grep -q 'not running' || fx_fail "waiting: $FX_ERR"
fx_expect_fail "send --check of a dead swtpm" \
	"$VM" send -d "$KA" --to hostb --ctrl "$FX_DIR/none/data.ctrl" --uuid "$U" --check
printf '%s\n' "$FX_ERR" | grep -q 'cannot connect' || fx_fail "dead: $FX_ERR"
[ -z "$FX_OUT" ] || fx_fail "a refused send --check printed: $FX_OUT"
echo "ok: send_check_refuses_as_send_would"

# ---- recv --check ----
rcheck() { "$VM" recv -d "$KB" --check --sender "$1" --uuid "$U" --generation "$2" "${@:3}"; }
ledger_before=$("$LD" "$KB")
fx_expect_ok "recv --check from a trusted peer" rcheck "$ID_A" 1 --tpm-version 2
fx_expect_ok "recv --check from this host itself" rcheck "$ID_B" 1
fx_expect_fail "recv --check from an untrusted host" rcheck "$ID_C" 1
printf '%s\n' "$FX_ERR" | grep -q "record sender key $ID_C is not a trusted peer" || fx_fail "untrusted: $FX_ERR"
[ "$("$LD" "$KB")" = "$ledger_before" ] || fx_fail "recv --check changed the ledger"

# After host B accepted generation 1, the same generation is a replay.
fx_swtpm_waiting dst tpm2
fx_expect_ok "recv generation 1" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl dst)" --uuid "$U" <"$FX_DIR/first.rec"
fx_expect_fail "recv --check of an accepted generation" rcheck "$ID_A" 1
printf '%s\n' "$FX_ERR" | grep -q 'replay or rollback refused' || fx_fail "replay: $FX_ERR"
fx_expect_ok "recv --check of a newer generation" rcheck "$ID_A" 2
fx_expect_ok "recv --check of an accepted generation with rollback allowed" rcheck "$ID_A" 1 --allow-rollback
fx_expect_fail "recv --check without a host key" "$VM" recv -d "$FX_DIR/no-keys" --check \
	--sender "$ID_A" --uuid "$U" --generation 1
echo "ok: recv_check_answers_as_recv_would"

# Usage: recv --check names no INSTANCE; its own options need --check.
for bad in "--check --uuid $U --generation 1" \
	"--check --sender $ID_A --uuid $U" \
	"--check --sender $ID_A --uuid $U --generation 0" \
	"--check --sender $ID_A --uuid $U --generation 1 --tpm-version 3" \
	"--check --sender $ID_A --uuid $U --generation 1 --ctrl $FX_DIR/dst/data.ctrl" \
	"--sender $ID_A --ctrl $FX_DIR/dst/data.ctrl --uuid $U"; do
	# shellcheck disable=SC2086 # word lists on purpose
	"$VM" recv -d "$KB" $bad </dev/null >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] || fx_fail "recv $bad: exit $rc, expected a usage error"
done
echo "ok: recv_check_usage_errors"
echo "PASS: send --check and recv --check"
