#!/bin/bash
# sanitizer: yes
#
# Live migration between two hosts (network namespaces joined by veth, or
# loopback where namespaces cannot be made): each host has its own key
# directory and swtpm; the record crosses a real TCP connection, handed to
# send and recv as a file descriptor the way xend hands its stream to
# xc_save/xc_restore. TPM 2.0 and TPM 1.2: the destination holds the same
# PCRs, NV data and keys, usable; after finish the source is gone.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

fx_netns_pair
mig_peers
# A stale copy and a stray file in peers/ block no migration with the other
# peers (issue 15.3): they are skipped, and `peers` lists them as broken.
cp "$FX_DIR/keys-hostb/host.pub" "$FX_DIR/keys-hosta/peers/hostb-old.pub"
echo junk >"$FX_DIR/keys-hostb/peers/stray.pub"
"$VM" peers -d "$FX_DIR/keys-hosta" >"$FX_DIR/peers-a" || fx_fail "peers on hosta"
grep -q '^hostb  *id [0-9a-f]\{32\}  SHA256:' "$FX_DIR/peers-a" || fx_fail "peers does not list hostb"
grep -q '^broken: peers/hostb-old.pub: .*does not match' "$FX_DIR/peers-a" ||
	fx_fail "peers does not list hostb-old.pub as broken"

migrate() { # VER UUID
	local ver=$1 uuid=$2 port
	fx_swtpm_running "src-$ver" "$ver" "$FX_NS_A"
	fx_swtpm_waiting "dst-$ver" "$ver" "$FX_NS_B"
	mig_fill "src-$ver" "$ver"

	port=$(fx_free_port "$FX_NS_B")
	# Destination: the relocation side accepts one connection and runs recv
	# with the connection as its stream (fd 0).
	fx_in "$FX_NS_B" socat -u "TCP-LISTEN:$port,bind=$FX_ADDR_B,reuseaddr" \
		"EXEC:$VM recv -d $FX_DIR/keys-hostb --fd 0 --ctrl $(fx_swtpm_ctrl "dst-$ver") --uuid $uuid,nofork" \
		2>"$FX_DIR/recv-$ver.err" &
	local rpid=$!
	fx_wait_for 5 fx_in "$FX_NS_B" bash -c "ss -ltn | grep -q ':$port '" || fx_fail "listener did not start"
	# Source: connect, then hand the socket to send as fd 3.
	fx_in "$FX_NS_A" bash -c 'exec 3<>"/dev/tcp/$1/$2" && exec "${@:3}" --fd 3' _ \
		"$FX_ADDR_B" "$port" "$VM" send -d "$FX_DIR/keys-hosta" --to hostb \
		--ctrl "$(fx_swtpm_ctrl "src-$ver")" --uuid "$uuid" ||
		fx_fail "send $ver failed"
	wait "$rpid" || fx_fail "recv $ver failed: $(cat "$FX_DIR/recv-$ver.err")"

	mig_snapshot "dst-$ver" "$ver" after
	mig_same "src-$ver.before" "dst-$ver.after"
	# send left the source running and unchanged until finish.
	mig_snapshot "src-$ver" "$ver" after
	mig_same "src-$ver.before" "src-$ver.after"
	fx_expect_ok "finish $ver" "$VM" finish --ctrl "$(fx_swtpm_ctrl "src-$ver")" --uuid "$uuid"
	mig_assert_gone "src-$ver"
	mig_snapshot "dst-$ver" "$ver" final
	mig_same "src-$ver.before" "dst-$ver.final"
}

migrate tpm2 6e4c1a52-8f0e-4a51-9a0b-0c3f5e2d7a10
grep -q ' sign ok$' "$FX_DIR/dst-tpm2.after" || fx_fail "loaded key does not sign after migration"
migrate tpm12 0d3b9f6e-21a4-4c87-b5d2-77a9c0e1f342

# Key rotation, one command per host (issue 15.5): hostb replaces its key,
# hosta must say --replace to trust the new one, and the next migration
# goes to the new key.
fx_expect_ok "keygen --replace on hostb" "$VM" keygen -d "$FX_DIR/keys-hostb" --replace
fx_expect_fail "plain trust of hostb's new key" "$VM" trust -d "$FX_DIR/keys-hosta" \
	"$FX_DIR/keys-hostb/host.pub"
printf '%s\n' "$FX_ERR" | grep -q -- '--replace' || fx_fail "refusal does not name --replace: $FX_ERR"
fx_expect_ok "trust --replace on hosta" "$VM" trust -d "$FX_DIR/keys-hosta" --replace \
	"$FX_DIR/keys-hostb/host.pub"
printf '%s\n' "$FX_OUT" | grep -q 'replacing key id' || fx_fail "trust --replace says: $FX_OUT"
fx_swtpm_stop dst-tpm2
migrate tpm2 3a7d5c21-9e4b-4f60-8d1a-5b2c7e9f0a34

# Both ledgers know the generation: hosta sent 1, hostb accepted 1.
grep -q '^6e4c1a52-8f0e-4a51-9a0b-0c3f5e2d7a10 1 0$' "$FX_DIR/keys-hosta/ledger" || fx_fail "sender ledger"
grep -q '^6e4c1a52-8f0e-4a51-9a0b-0c3f5e2d7a10 0 1$' "$FX_DIR/keys-hostb/ledger" || fx_fail "receiver ledger"
echo "PASS: two hosts over TCP (${FX_NS_A:-loopback}), TPM 2.0 and 1.2"
