#!/bin/bash
#
# make demo: move a populated vTPM between two hosts the way xend does.
#
# Two hosts (network namespaces joined by veth, or loopback), each with its
# own xenstored, key directory and swtpm. The source vTPM of domain 5 gets
# recognisable state (PCRs, an NV index, a persistent and a loaded key); the
# guest is paused; `vtpm_migrate send --domid 5` writes the sealed record to a
# TCP connection; on the other host `vtpm_migrate recv --domid 9` loads it
# into the waiting vTPM of the restored domain; `finish` removes the source.
# Exits non-zero if any comparison fails.
# shellcheck source-path=SCRIPTDIR/lib
# shellcheck source=lib/fixtures.sh
. "$(dirname "$0")/lib/fixtures.sh"
# shellcheck source=lib/tpmstate.sh
. "$(dirname "$0")/lib/tpmstate.sh"
# shellcheck disable=SC2034 # read by fixtures.sh
FX_TEST_NAME=demo
fx_init
# shellcheck source=lib/migrate.sh
. "$(dirname "$0")/lib/migrate.sh"

VTPM_UUID=5d2c6f0a-7b1e-4c3d-9e8f-a1b2c3d4e5f6
DOM_UUID=c0ffee00-1234-4abc-8def-0123456789ab
BE=/local/domain/0/backend/vtpm
DOMSTATE=$(fx_domstate_env) || exit 1

step() { printf '\n== %s\n' "$*"; }

step "two hosts"
fx_netns_pair
echo "host A: ${FX_NS_A:-loopback} $FX_ADDR_A    host B: ${FX_NS_B:-loopback} $FX_ADDR_B"
mig_host hosta
mig_host hostb
mig_trust hosta hostb
mig_trust hostb hosta
echo "host keys made; each host trusts the other's public key (vtpm_migrate keygen / trust)"

step "host A: domain 5 with a running TPM 2.0 vTPM, filled with recognisable state"
fx_xenstored_start xs-a "$FX_NS_A"
XS_A=$XENSTORED_PATH
fx_swtpm_running src tpm2 "$FX_NS_A"
mig_fill src tpm2
xenstore-write /local/domain/5/vm "/vm/$DOM_UUID" "$BE/5/0/uuid" "$VTPM_UUID" \
	"$BE/5/0/swtpm-ctrl" "$(fx_swtpm_ctrl src)" "$BE/5/0/instance" 0
echo "PCRs extended in every bank, NV index 0x01500001 written, key 0x81000001 persisted, one key loaded"

step "host B: the restored domain 9 (same guest) with a vTPM waiting for state"
fx_xenstored_start xs-b "$FX_NS_B"
XS_B=$XENSTORED_PATH
fx_swtpm_waiting dst tpm2 "$FX_NS_B"
xenstore-write /local/domain/9/vm "/vm/$DOM_UUID" "$BE/9/0/uuid" "$VTPM_UUID" \
	"$BE/9/0/resume" True "$BE/9/0/swtpm-ctrl" "$(fx_swtpm_ctrl dst)"

step "migrate: guest paused, send on host A -> TCP -> recv on host B"
port=$(fx_free_port "$FX_NS_B")
fx_in "$FX_NS_B" env XENSTORED_PATH="$XS_B" bash -c \
	'socat -u "TCP-LISTEN:$1,bind=$2,reuseaddr" STDOUT | tee "$3" |
	 { "$4" recv -d "$5" --domid 9; r=$?; echo "$EPOCHREALTIME" >"$6"; exit $r; }' \
	_ "$port" "$FX_ADDR_B" "$FX_DIR/wire.bin" "$VM" "$FX_DIR/keys-hostb" "$FX_DIR/recv.end" \
	2>"$FX_DIR/recv.err" &
rpid=$!
fx_wait_for 5 fx_in "$FX_NS_B" bash -c "ss -ltn | grep -q ':$port '" || fx_fail "listener did not start"
s=$EPOCHREALTIME
fx_in "$FX_NS_A" env XENSTORED_PATH="$XS_A" VTPM_TEST_DOMSTATE=5:paused LD_PRELOAD="$DOMSTATE" \
	bash -c 'exec 3<>"/dev/tcp/$1/$2" && exec "$3" send -d "$4" --to hostb --domid 5 --fd 3' \
	_ "$FX_ADDR_B" "$port" "$VM" "$FX_DIR/keys-hosta" || fx_fail "send failed"
e=$EPOCHREALTIME
wait "$rpid" || fx_fail "recv failed: $(cat "$FX_DIR/recv.err")"
usec() { local t=${1/./}; printf '%s\n' "$((10#$t))"; }
send_us=$(($(usec "$e") - $(usec "$s")))
step_us=$(($(usec "$(cat "$FX_DIR/recv.end")") - $(usec "$s")))
inst=$(XENSTORED_PATH=$XS_B xenstore-read "$BE/9/0/instance")
status=$(XENSTORED_PATH=$XS_B xenstore-read "$BE/9/0/hotplug-status")
echo "host B published the vTPM: instance=$inst hotplug-status=$status"

step "finish on host A: the source vTPM is shut down and its state deleted"
XENSTORED_PATH=$XS_A fx_expect_ok "finish" "$VM" finish --domid 5
mig_assert_gone src
echo "source swtpm running: $(fx_swtpm_alive src && echo yes || echo no); state files left: $(find "$FX_DIR/src" -name 'tpm2-00.*' | wc -l)"

step "compare: source before migration | destination after (PCRs still at reset value not shown)"
mig_snapshot dst tpm2 after
cut -c1-58 "$FX_DIR/src.before" >"$FX_DIR/left"
cut -c1-58 "$FX_DIR/dst.after" >"$FX_DIR/right"
paste "$FX_DIR/left" "$FX_DIR/right" | grep -Ev $': 0x(0+|F+)\t' |
	awk -F'\t' '{ printf "%-58s %s %s\n", $1, ($1 == $2 ? "==" : "!="), $2 }'
echo "($(wc -l <"$FX_DIR/src.before") lines compared in all)"
if cmp -s "$FX_DIR/src.before" "$FX_DIR/dst.after"; then
	echo "IDENTICAL: every PCR bank, NV data, the persistent key; the loaded key signs on host B"
else
	diff "$FX_DIR/src.before" "$FX_DIR/dst.after" | head
	fx_fail "the destination vTPM differs from the source"
fi
grep -q ' sign ok$' "$FX_DIR/dst.after" || fx_fail "the loaded key does not sign on host B"

step "on the wire"
wire=$(wc -c <"$FX_DIR/wire.bin")
"$VM" inspect <"$FX_DIR/wire.bin" | sed 's/^/  /'
if grep -q 'recognisable' "$FX_DIR/wire.bin"; then
	fx_fail "NV data visible on the wire"
fi
echo "NV contents visible on the wire: no (AES-256-GCM, sealed to host B, signed by host A)"
printf 'vTPM step: %d.%03d ms from starting send to recv done (send alone %d.%03d ms; both processes, TCP and namespaces included); %d bytes on the wire\n' \
	$((step_us / 1000)) $((step_us % 1000)) $((send_us / 1000)) $((send_us % 1000)) "$wire"
echo "DEMO PASSED"
