#!/bin/bash
#
# xm save / xm restore: the record sealed to this host goes into a file and
# restores once; a second restore of the same file is a rollback and is
# refused unless --allow-rollback. Also the plain pipe (send | recv) that
# xend's SSL relocation uses. TPM 2.0 and 1.2.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

mig_host h
K=$FX_DIR/keys-h

for ver in tpm2 tpm12; do
	U=$(cat /proc/sys/kernel/random/uuid)
	mig_inst "saved-$ver" "$U" SAVED
	mig_inst "restored-$ver" "$U" RESTORED
	mig_inst "again-$ver" "$U" AGAIN
	mig_inst "piped-$ver" "$U" PIPED
	fx_swtpm_running "saved-$ver" "$ver"
	mig_fill "saved-$ver" "$ver"
	# xm save: the record goes to a file, sealed to this host.
	fx_expect_ok "save $ver" "$VM" send -d "$K" --to self "${SAVED[@]}" \
		--fd 5 5>"$FX_DIR/save-$ver.rec"
	grep -q 'SECRET\|NVDATA' "$FX_DIR/save-$ver.rec" && fx_fail "save file holds plaintext"
	fx_expect_ok "inspect $ver" "$VM" inspect <"$FX_DIR/save-$ver.rec"
	printf '%s\n' "$FX_OUT" | grep -q "^vtpm-uuid *$U$" || fx_fail "inspect does not show the vTPM UUID"
	printf '%s\n' "$FX_OUT" | grep -q "^flags *0x01$" || fx_fail "save record is not marked as sealed to self"
	# With the key directory, inspect names the keys; dates are ISO 8601 UTC.
	fx_expect_ok "inspect -d $ver" "$VM" inspect -d "$K" <"$FX_DIR/save-$ver.rec"
	printf '%s\n' "$FX_OUT" | grep -q "^sender-id  *[0-9a-f]\{32\} (this host, h)$" ||
		fx_fail "inspect does not name the sender: $FX_OUT"
	printf '%s\n' "$FX_OUT" | grep -q "^time  *20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]\{8\}Z$" ||
		fx_fail "inspect does not show the time as ISO 8601 UTC: $FX_OUT"
	# The domain is destroyed after a save: finish.
	fx_expect_ok "finish $ver" "$VM" finish "${SAVED[@]}"
	mig_assert_gone "saved-$ver"

	# xm restore: a new instance waits for state.
	fx_swtpm_waiting "restored-$ver" "$ver"
	fx_expect_ok "restore $ver" "$VM" recv -d "$K" "${RESTORED[@]}" <"$FX_DIR/save-$ver.rec"
	mig_snapshot "restored-$ver" "$ver" after
	mig_same "saved-$ver.before" "restored-$ver.after"
	# status: this host sent generation 1 and accepted it back.
	fx_expect_ok "status $ver" "$VM" status -d "$K" "${RESTORED[@]}"
	printf '%s\n' "$FX_OUT" | grep -q "^last-sent  *1$" || fx_fail "status: last-sent: $FX_OUT"
	printf '%s\n' "$FX_OUT" | grep -q "^last-accepted  *1$" || fx_fail "status: last-accepted: $FX_OUT"
	printf '%s\n' "$FX_OUT" | grep -q "^left-host  *no$" || fx_fail "status: left-host: $FX_OUT"

	# A second restore of the same file is a rollback.
	fx_swtpm_waiting "again-$ver" "$ver"
	fx_expect_fail "second restore $ver" "$VM" recv -d "$K" "${AGAIN[@]}" <"$FX_DIR/save-$ver.rec"
	printf '%s\n' "$FX_ERR" | grep -q 'replay or rollback refused' || fx_fail "wrong reason: $FX_ERR"
	mig_assert_not_running "again-$ver"
	# ... unless the administrator allows it.
	fx_expect_ok "restore with --allow-rollback $ver" "$VM" recv -d "$K" --allow-rollback \
		"${AGAIN[@]}" <"$FX_DIR/save-$ver.rec"
	mig_snapshot "again-$ver" "$ver" after
	mig_same "saved-$ver.before" "again-$ver.after"
	fx_swtpm_stop "again-$ver"

	# The pipe: restored instance moves on to a new one, send | recv.
	fx_swtpm_waiting "piped-$ver" "$ver"
	"$VM" send -d "$K" --to self "${RESTORED[@]}" |
		"$VM" recv -d "$K" "${PIPED[@]}" || fx_fail "send | recv $ver failed"
	mig_snapshot "piped-$ver" "$ver" after
	mig_same "saved-$ver.before" "piped-$ver.after"
done
grep -q ' sign ok$' "$FX_DIR/piped-tpm2.after" || fx_fail "loaded key does not sign after restore"
echo "PASS: save/restore once, rollback refused, pipe"
