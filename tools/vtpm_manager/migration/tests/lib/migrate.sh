# shellcheck shell=bash
#
# Helpers for the migration end-to-end tests, on top of fixtures.sh and
# tpmstate.sh: host key directories, filling a vTPM and comparing two.

VM=$(fx_bin vtpm_migrate) || exit 1
fx_bin tools/tpm12_raw >/dev/null || exit 1

# mig_host NAME: a key directory $FX_DIR/keys-NAME with a host key named NAME.
mig_host() {
	fx_expect_ok "keygen $1" "$VM" keygen -d "$FX_DIR/keys-$1" -n "$1"
}

# mig_trust A B: host A trusts host B's key (B's public key file is copied).
mig_trust() {
	fx_expect_ok "trust $2 on $1" "$VM" trust -d "$FX_DIR/keys-$1" "$FX_DIR/keys-$2/host.pub"
}

# mig_peers: hosta and hostb, each with a key, each trusting the other; their
# key directories in KA and KB.
mig_peers() {
	# shellcheck disable=SC2034 # KA and KB are for the scripts that source this
	KA=$FX_DIR/keys-hosta
	# shellcheck disable=SC2034
	KB=$FX_DIR/keys-hostb
	mig_host hosta
	mig_host hostb
	mig_trust hosta hostb
	mig_trust hostb hosta
}

# mig_fill NAME tpm2|tpm12: recognisable state in a running instance, and its
# snapshot in $FX_DIR/NAME.before.
mig_fill() {
	if [ "$2" = tpm2 ]; then
		tpm2_populate "$FX_DIR/$1" || fx_fail "tpm2_populate $1"
	else
		tpm12_populate "$FX_DIR/$1" || fx_fail "tpm12_populate $1"
	fi
	mig_snapshot "$1" "$2" before
}

# mig_snapshot NAME tpm2|tpm12 TAG: snapshot into $FX_DIR/NAME.TAG.
mig_snapshot() {
	if [ "$2" = tpm2 ]; then
		tpm2_snapshot "$FX_DIR/$1" "$FX_DIR/$1.$3" || fx_fail "snapshot of $1"
	else
		tpm12_snapshot "$FX_DIR/$1" "$FX_DIR/$1.$3" || fx_fail "snapshot of $1"
	fi
}

# mig_same A.TAG B.TAG: the two snapshots are identical.
mig_same() {
	cmp -s "$FX_DIR/$1" "$FX_DIR/$2" ||
		fx_fail "$1 and $2 differ: $(diff "$FX_DIR/$1" "$FX_DIR/$2" | head -n 6 | tr '\n' ' ')"
}

# mig_running NAME: the swtpm process runs and its TPM is initialised.
mig_tpm_running() {
	"$VTPM_TEST_BIN/tools/ctrl_copy" --status "$(fx_swtpm_ctrl "$1")" 2>/dev/null | grep -qx 'TPM [0-9.]* running'
}

# mig_assert_not_running NAME: no initialised TPM there (waiting or gone).
mig_assert_not_running() {
	if mig_tpm_running "$1"; then
		fx_fail "$1 runs an initialised TPM after a refusal"
	fi
}

# mig_assert_gone NAME: finish ran: no process and no state files.
mig_assert_gone() {
	fx_wait_for 5 fx_not fx_swtpm_alive "$1" || fx_fail "$1 still runs after finish"
	if compgen -G "$FX_DIR/$1/tpm*-00.*" >/dev/null; then
		fx_fail "$1 still has state files after finish"
	fi
}

# mig_inst NAME UUID VAR: set array VAR to the standalone INSTANCE arguments.
mig_inst() {
	local -n _mig_ref=$3
	# shellcheck disable=SC2034 # assigned through the name reference
	_mig_ref=(--ctrl "$(fx_swtpm_ctrl "$1")" --uuid "$2")
}

# new_dst [tpm2|tpm12]: a fresh waiting destination for vTPM $U; its name in
# DST, its INSTANCE arguments in DSTI (n counts them).
n=0
new_dst() {
	n=$((n + 1))
	DST=dst$n
	fx_swtpm_waiting "$DST" "${1:-tpm2}"
	# shellcheck disable=SC2034 # DSTI is for the scripts that source this
	DSTI=(--ctrl "$(fx_swtpm_ctrl "$DST")" --uuid "$U")
}

# acc DIR: the accepted mark of vTPM $U in DIR's ledger (0 when none).
acc() { "$VTPM_TEST_BIN/tools/ledger_dump" "$1" | awk -v u="$U" '$1 == u { a = $3 } END { print a + 0 }'; }

# mig_teardown NAME: what the teardown of a destination that is given up
# leaves: its swtpm stopped (xend destroys the domain) and its state deleted
# (xm delete). finish is for a source whose record left, not for this.
mig_teardown() {
	fx_swtpm_stop "$1"
	rm -f "$FX_DIR/$1"/tpm*-00.*
	mig_assert_gone "$1"
}
