#!/bin/bash
#
# xm migrate dom localhost: both ends on one host with one key directory.
# The two instances use distinct state directories, sockets and lock files;
# the record is sealed to this host; the ledger counts sent and accepted for
# the same vTPM without refusing the local hop; a replay is still refused.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

mig_host local
K=$FX_DIR/keys-local
U=3f1a7c2e-5b60-4d8e-9f21-a0b1c2d3e4f5

fx_swtpm_running hop0 tpm2
mig_fill hop0 tpm2
prev=hop0
for hop in hop1 hop2 hop3; do
	fx_swtpm_waiting "$hop" tpm2
	mig_inst "$prev" "$U" PREV
	mig_inst "$hop" "$U" HOP
	"$VM" send -d "$K" --to local "${PREV[@]}" >"$FX_DIR/$hop.rec" ||
		fx_fail "send $prev"
	fx_expect_ok "recv $hop" "$VM" recv -d "$K" "${HOP[@]}" <"$FX_DIR/$hop.rec"
	fx_expect_ok "finish $prev" "$VM" finish "${PREV[@]}"
	mig_assert_gone "$prev"
	# The destination's state directory was not touched by finish.
	compgen -G "$FX_DIR/$hop/tpm2-00.*" >/dev/null || fx_fail "$hop lost its state files"
	mig_snapshot "$hop" tpm2 after
	mig_same hop0.before "$hop.after"
	prev=$hop
done
grep -q "^$U 3 3$" "$K/ledger" || fx_fail "ledger after three local hops: $(cat "$K/ledger")"

# Replaying the first hop's record into a fresh waiting instance is refused.
fx_swtpm_waiting replay tpm2
mig_inst replay "$U" REPLAY
fx_expect_fail "replay of hop1" "$VM" recv -d "$K" "${REPLAY[@]}" <"$FX_DIR/hop1.rec"
mig_assert_not_running replay
echo "PASS: three local migrations, replay refused"
