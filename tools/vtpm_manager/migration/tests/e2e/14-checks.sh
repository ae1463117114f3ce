#!/bin/bash
# sanitizer: yes
#
# The checks made before a byte is sent, by the helper itself: `send --check`
# runs every check send makes short of touching the TPM state and reports
# what send would do, with the signed announcement of that record; `recv
# --check` says whether this host would accept the announced record: the
# detail on stderr, a reason for the asking client on stdout. Neither writes
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
mig_trust hostc hostb
ID_A=$(sed -n 's/^id //p' "$KA/host.pub")
ID_B=$(sed -n 's/^id //p' "$KB/host.pub")
ID_C=$(sed -n 's/^id //p' "$FX_DIR/keys-hostc/host.pub")

fx_swtpm_running src tpm2
mig_fill src tpm2
SRC=(--ctrl "$(fx_swtpm_ctrl src)" --uuid "$U")

# ---- send --check ----
# announce KEYDIR TO [INSTANCE...]: the announcement send --check prints.
announce() {
	fx_expect_ok "send --check -d $1 --to $2" "$VM" send -d "$1" --to "$2" "${@:3}" --check
	printf '%s\n' "$FX_OUT" | sed -n 's/^announce //p'
}
# The announcement of generation 1, for recv --check below.
A1=$(announce "$KA" hostb "${SRC[@]}")
ledger_before=$("$LD" "$KA")
fx_expect_ok "send --check" "$VM" send -d "$KA" --to hostb "${SRC[@]}" --check
expected="vtpm-uuid $U
generation 1
tpm-version 2
sender $ID_A
recipient hostb"
[ "$(printf '%s\n' "$FX_OUT" | head -n 5)" = "$expected" ] || fx_fail "send --check printed: $FX_OUT"
printf '%s\n' "$FX_OUT" | sed -n 6p | grep -Eqx 'announce [0-9a-f]{320}' || fx_fail "no announcement: $FX_OUT"
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
rcheck() { "$VM" recv -d "$KB" --check --announce "$@"; }
# refused_for WHAT: one detail line on stderr, one reason for the client on
# stdout that names no key id and no generation.
refused_for() {
	printf '%s\n' "$FX_OUT" | grep -q '^that host ' || fx_fail "$1: no reason for the client: '$FX_OUT'"
	printf '%s\n' "$FX_OUT" | grep -Eq '[0-9a-f]{32}|generation' && fx_fail "$1: the client learns too much: $FX_OUT"
	return 0
}
B1=$(announce "$KB" self "${SRC[@]}")
C1=$(announce "$FX_DIR/keys-hostc" hostb "${SRC[@]}")
mig_trust hosta hostc
AC=$(announce "$KA" hostc "${SRC[@]}")
ledger_before=$("$LD" "$KB")
fx_expect_ok "recv --check from a trusted peer" rcheck "$A1"
fx_expect_ok "recv --check from this host itself" rcheck "$B1"
fx_expect_fail "recv --check from an untrusted host" rcheck "$C1"
printf '%s\n' "$FX_ERR" | grep -q "announcement sender key $ID_C is not a trusted peer" || fx_fail "untrusted: $FX_ERR"
refused_for untrusted
fx_expect_fail "recv --check of an announcement to another host" rcheck "$AC"
printf '%s\n' "$FX_ERR" | grep -q "announcement addressed to key" || fx_fail "recipient: $FX_ERR"
refused_for recipient
# One changed byte anywhere (here: the generation) and it does not verify.
forged=$(printf '%s' "$A1" | sed 's/^\(.\{174\}\)./\1f/')
[ "$forged" != "$A1" ] || forged=$(printf '%s' "$A1" | sed 's/^\(.\{174\}\)./\1e/')
fx_expect_fail "recv --check of a forged announcement" rcheck "$forged"
printf '%s\n' "$FX_ERR" | grep -q "signature does not verify" || fx_fail "forged: $FX_ERR"
refused_for forged
[ "$("$LD" "$KB")" = "$ledger_before" ] || fx_fail "recv --check changed the ledger"

# After host B accepted generation 1, the same generation is a replay.
fx_swtpm_waiting dst tpm2
fx_expect_ok "recv generation 1" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl dst)" --uuid "$U" <"$FX_DIR/first.rec"
fx_expect_fail "recv --check of an accepted generation" rcheck "$A1"
printf '%s\n' "$FX_ERR" | grep -q 'replay or rollback refused' || fx_fail "replay: $FX_ERR"
printf '%s\n' "$FX_OUT" | grep -q 'replay or rollback refused' || fx_fail "replay, for the client: $FX_OUT"
A2=$(announce "$KA" hostb "${SRC[@]}")
fx_expect_ok "recv --check of a newer generation" rcheck "$A2"
fx_expect_ok "recv --check of an accepted generation with rollback allowed" rcheck "$A1" --allow-rollback
fx_expect_fail "recv --check without a host key" "$VM" recv -d "$FX_DIR/no-keys" --check --announce "$A1"
echo "ok: recv_check_answers_as_recv_would"

# Usage: recv --check names no INSTANCE and needs --announce; the
# unauthenticated --sender/--generation of old are gone.
for bad in "--check" \
	"--check --announce 00" \
	"--check --announce $A1 --ctrl $FX_DIR/dst/data.ctrl --uuid $U" \
	"--check --announce $A1 --fd 3" \
	"--check --sender $ID_A --uuid $U --generation 1" \
	"--staged --fd 3 --sender $ID_A --generation 18446744073709551615 --ctrl $FX_DIR/dst/data.ctrl --uuid $U"; do
	# shellcheck disable=SC2086 # word lists on purpose
	"$VM" recv -d "$KB" $bad </dev/null >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] || fx_fail "recv $bad: exit $rc, expected a usage error"
done
echo "ok: recv_check_usage_errors"
echo "PASS: send --check and recv --check"
