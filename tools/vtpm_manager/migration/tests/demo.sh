#!/bin/bash
#
# make demo: one vTPM migration as xend (Xen 4.1/4.2 with this patch) runs
# it, between two hosts made on this machine, and what the guest sees of it.
#
# Host A and host B are network namespaces joined by a veth pair (loopback
# where namespaces cannot be made), each with its key directory, its
# xenstored (the real daemon under the test shim) and its swtpm. The guest's
# TPM driver is played by tests/tools/tpmif_front on a stand-in for the
# shared page; its back end is the real vtpm_backend. This script does what
# xend does, in xend's order: it asks the destination first (vtpm_check:
# send --check, recv --check --announce), runs the staged helpers on a TCP
# connection between the hosts with their words (ready, pull -> sealed,
# write -> done; ready, go -> done), and finishes the source once the
# record has left. It exits 1 with one line, "FAIL: demo: ...", if a step
# fails or the destination's TPM differs from the source's.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/fixtures.sh
. "$(dirname "$0")/lib/fixtures.sh"
# shellcheck source=lib/tpmstate.sh
. "$(dirname "$0")/lib/tpmstate.sh"
# shellcheck disable=SC2034 # read by fixtures.sh
FX_TEST_NAME=demo
fx_init
# shellcheck source=lib/migrate.sh
. "$(dirname "$0")/lib/migrate.sh"

BACKEND=$(fx_bin vtpm_backend) || exit 1
FRONT=$(fx_bin tools/tpmif_front) || exit 1
SHIM=$(fx_bin shim/tpmif_front_shim.so) || exit 1
FLOOR=$(fx_bin bench/vtpm_bench) || exit 1
DOMSTATE=$(fx_domstate_env) || exit 1

DOM_UUID=c0ffee00-1234-4abc-8def-0123456789ab  # the guest's UUID, as xend holds it
VTPM_UUID=5d2c6f0a-7b1e-4c3d-9e8f-a1b2c3d4e5f6 # its vTPM's, from the domain config
SRC_DOM=5                                      # the guest's domain id on A, and on B:
DST_DOM=9
# TPM2_PCR_Extend(PCR 16, sha256: 00 01 .. 1f), TPM2_PCR_Read(sha256: PCR 16)
PCR_EXTEND=80020000004100000182000000100000000940000009000000000000000001000b
PCR_EXTEND+=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PCR_READ=8001000000140000017e00000001000b03000001
RC_FAILURE=80010000000a00000101 # TPM_RC_FAILURE, the back end's refusal

echo "make demo: a guest's vTPM moves from host A to host B as xend migrates it (xm migrate --live)"

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
short() { printf '%s' "${1:0:12}…"; } # a long hex value, as people quote one
ms() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
usec() { local t=${1/./}; printf '%s\n' "$((10#$t))"; } # $EPOCHREALTIME -> µs
xs() { # xs HOST CMD...: a xenstore command on that host's xenstored
	local h=$1
	shift
	XENSTORED_PATH="$FX_DIR/xs-$h/socket" "$@"
}
be() { printf '/local/domain/0/backend/vtpm/%s/0\n' "$1"; }
fe() { printf '/local/domain/%s/device/vtpm/0\n' "$1"; }
# guest HOST ARGS...: the guest's TPM driver on that host (tests/tools/tpmif_front)
guest() {
	local h=$1
	shift
	"$FRONT" "$FX_DIR/guest-$h.mem" "$FX_DIR/guest-$h.evt-in" "$FX_DIR/guest-$h.evt-out" "$@"
}
# guest_pcr16 HOST: PCR 16 as the guest reads it through the back end
guest_pcr16() {
	fx_expect_ok "the guest's PCR_Read on host $1" guest "$1" cmd 0 "$PCR_READ"
	case $FX_OUT in
	80010000003e00000000*) printf '%s\n' "${FX_OUT: -64}" ;;
	*) fx_fail "the guest's PCR_Read on host $1 was answered $FX_OUT" ;;
	esac
}
node_is() { [ "$(xs "$1" xenstore-read "$2" 2>/dev/null)" = "$3" ]; }

# host NAME NS DOMID SWTPM running|waiting: a host's xenstored, the vTPM's
# swtpm, the nodes xend and the hotplug script write for the vTPM device,
# the back end the hotplug script starts, and the guest's page.
host() {
	local h=$1 ns=$2 dom=$3 tpm=$4 mode=$5 b f
	b=$(be "$dom")
	f=$(fe "$dom")
	fx_xenstored_start "xs-$h" "$ns"
	if [ "$mode" = running ]; then
		fx_swtpm_running "$tpm" tpm2 "$ns"
	else
		fx_swtpm_waiting "$tpm" tpm2 "$ns"
	fi
	fx_expect_ok "xenstore nodes on host $h" xs "$h" xenstore-write \
		"$b/frontend" "$f" "$b/frontend-id" "$dom" "$b/online" 1 "$b/state" 1 \
		"$b/uuid" "$VTPM_UUID" "$b/swtpm-ctrl" "$(fx_swtpm_ctrl "$tpm")" \
		"$b/resume" "$([ "$mode" = running ] && echo False || echo True)" \
		"$f/backend" "$b" "$f/backend-id" 0 "$f/state" 1
	if ! dd if=/dev/zero of="$FX_DIR/guest-$h.mem" bs=4096 count=1 status=none ||
		! mkfifo "$FX_DIR/guest-$h.evt-in" "$FX_DIR/guest-$h.evt-out"; then
		fx_fail "the guest's page on host $h"
	fi
	(fx_in "$ns" env VTPM_SHIM_GNT="$FX_DIR/guest-$h.mem" VTPM_SHIM_EVT_IN="$FX_DIR/guest-$h.evt-in" \
		VTPM_SHIM_EVT_OUT="$FX_DIR/guest-$h.evt-out" LD_PRELOAD="$SHIM" \
		"$BACKEND" --backend "$b" --data "$(fx_swtpm_data "$tpm")" \
		--pidfile "$FX_DIR/backend-$h.pid" 2>>"$FX_DIR/backend-$h.log" &)
	fx_wait_for 5 test -s "$FX_DIR/backend-$h.pid" || fx_fail "the back end on host $h did not start"
}

# guest_connects HOST DOMID: the guest's front end offers its ring; the back
# end connects once the TPM runs (hotplug-status connected).
guest_connects() {
	fx_wait_for 5 node_is "$1" "$(be "$2")/state" 2 || fx_fail "the back end on host $1 is not waiting for the guest"
	fx_expect_ok "the guest's ring on host $1" xs "$1" xenstore-write "$(fe "$2")/ring-ref" 0 \
		"$(fe "$2")/event-channel" 7 "$(fe "$2")/feature-protocol-v2" 1 "$(fe "$2")/state" 3
	fx_wait_for 5 node_is "$1" "$(be "$2")/state" 4 || fx_fail "the back end on host $1 did not connect to the guest"
}

# ---- the two hosts ----------------------------------------------------------
fx_netns_pair 2>/dev/null
if [ -n "$FX_NS_A" ]; then
	hosts="A $FX_ADDR_A (netns $FX_NS_A), B $FX_ADDR_B (netns $FX_NS_B)"
else
	hosts="A and B both on $FX_ADDR_A (no network namespaces here: loopback)"
fi
mig_peers
host a "$FX_NS_A" "$SRC_DOM" src running
mig_fill src tpm2 # PCRs in every bank, NV 0x01500001, key 0x81000001, a loaded key
fx_expect_ok "the hotplug script publishes the running vTPM" xs a xenstore-write \
	"$(be "$SRC_DOM")/instance" 0 "$(be "$SRC_DOM")/hotplug-status" connected
guest_connects a "$SRC_DOM"
fx_expect_ok "the guest's PCR_Extend" guest a cmd 0 "$PCR_EXTEND"
case $FX_OUT in 800200000013000000000000*) ;; *) fx_fail "the guest's PCR_Extend was answered $FX_OUT" ;; esac
PCR_A=$(guest_pcr16 a) || exit 1
mig_snapshot src tpm2 before
host b "$FX_NS_B" "$DST_DOM" dst waiting

step "two hosts: $hosts"
say "keys: each host made its key pair (vtpm_migrate keygen) and trusts the other's (trust)"
say "A: domain $SRC_DOM runs; its vTPM, a TPM 2.0 in swtpm, holds PCRs, NV index 0x01500001, keys 0x81000001 and a loaded one"
say "A: the guest extends PCR 16 through vtpm_backend and reads it: $(short "$PCR_A")"
say "B: xend made domain $DST_DOM for the incoming guest; the hotplug script's swtpm waits for state"

# The raw control-channel floor, on this state, into a scratch swtpm that
# is stopped again at once (never a second running copy for long).
fx_swtpm_waiting floor tpm2 "$FX_NS_B"
read -r FLOOR_MS PERM VOL SAVE < <("$FLOOR" --raw "$(fx_swtpm_ctrl src)" "$(fx_swtpm_ctrl floor)") ||
	fx_fail "the raw control-channel copy failed"
[ -n "$SAVE" ] || fx_fail "the raw control-channel copy said nothing"
fx_swtpm_stop floor
rm -f "$FX_DIR/floor"/tpm2-00.*

# ---- xend's vtpm_check: the destination is asked before anything is sent ----
step "xend on A asks B first (vtpm_check), while the guest still runs"
INST_A=(--domid "$SRC_DOM" --domain-uuid "$DOM_UUID")
fx_expect_ok "send --check on A" fx_in "$FX_NS_A" env XENSTORED_PATH="$FX_DIR/xs-a/socket" \
	VTPM_TEST_DOMSTATE="$SRC_DOM:running" LD_PRELOAD="$DOMSTATE" \
	"$VM" send -d "$KA" --to hostb "${INST_A[@]}" --check
field() { printf '%s\n' "$FX_OUT" | sed -n "s/^$1 //p"; }
ANN=$(field announce)
GEN=$(field generation)
if [ -z "$ANN" ] || [ -z "$GEN" ]; then fx_fail "send --check announced nothing: $FX_OUT"; fi
[ "$(field vtpm-uuid)" = "$VTPM_UUID" ] || fx_fail "send --check names another vTPM: $FX_OUT"
say "A\$ vtpm_migrate send --check --to hostb --domid $SRC_DOM --domain-uuid $(short "$DOM_UUID")"
say "    vtpm-uuid $(short "$VTPM_UUID") generation $GEN tpm-version $(field tpm-version)" \
	"sender key $(short "$(field sender)") recipient $(field recipient)"
say "    announce $(short "$ANN") (the record to come, signed by A: $((${#ANN} / 2)) bytes)"
fx_expect_ok "recv --check on B" fx_in "$FX_NS_B" "$VM" recv -d "$KB" --check --announce "$ANN"
say "B\$ vtpm_migrate recv --check --announce $(short "$ANN")  -> exit 0: B would accept it${FX_OUT:+ ($FX_OUT)}"

# ---- the stream: a TCP connection from A to B, the helpers on it ----------
# dst_stream: what B's relocation server runs for the connection: socat
# hands it the socket as stdin and stdout; the staged receiver reads the
# record from it (fd 3) and its words from xend (here: this script).
dst_stream() {
	XENSTORED_PATH="$FX_DIR/xs-b/socket" "$VM" recv -d "$KB" --domid "$DST_DOM" \
		--domain-uuid "$DOM_UUID" --fd 3 --staged \
		--announce "$ANN" --timeout 20 3<&0 <"$FX_DIR/r.in" >"$FX_DIR/r.out" 2>"$FX_DIR/r.err"
	local rc=$?
	ss -Htin "( sport = :$PORT )" >"$FX_DIR/wire.ss" 2>&1
	exit "$rc"
}
mkfifo "$FX_DIR/s.in" "$FX_DIR/s.out" "$FX_DIR/r.in" "$FX_DIR/r.out" || fx_fail "FIFOs"
PORT=$(fx_free_port "$FX_NS_B")
export -f dst_stream
export FX_DIR VM KB ANN PORT DST_DOM DOM_UUID
fx_in "$FX_NS_B" socat "TCP-LISTEN:$PORT,bind=$FX_ADDR_B,reuseaddr" \
	EXEC:"bash -c dst_stream",nofork 2>"$FX_DIR/socat.err" &
rpid=$!
fx_wait_for 5 fx_in "$FX_NS_B" bash -c "ss -Hltn '( sport = :$PORT )' | grep -q ." ||
	fx_fail "B's relocation server does not listen"
# shellcheck disable=SC2016 # expanded by that bash
fx_in "$FX_NS_A" bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; shift 2; exec "$@"' _ "$FX_ADDR_B" "$PORT" \
	env XENSTORED_PATH="$FX_DIR/xs-a/socket" VTPM_TEST_DOMSTATE="$SRC_DOM:paused" LD_PRELOAD="$DOMSTATE" \
	"$VM" send -d "$KA" --to hostb "${INST_A[@]}" --fd 3 --staged --timeout 20 \
	<"$FX_DIR/s.in" >"$FX_DIR/s.out" 2>"$FX_DIR/s.err" &
spid=$!
exec 5>"$FX_DIR/s.in" 6<"$FX_DIR/s.out" 7>"$FX_DIR/r.in" 8<"$FX_DIR/r.out"
# hear FD WORD WHO: the helper's next line must be WORD.
hear() {
	local got
	read -r -t 20 -u "$1" got || fx_fail "$3 said no '$2': $(cat "$FX_DIR/${3:0:1}.err")"
	[ "$got" = "$2" ] || fx_fail "$3 said '$got', not '$2': $(cat "$FX_DIR/${3:0:1}.err")"
}
step "the migration: xend's stream is TCP $FX_ADDR_A -> $FX_ADDR_B:$PORT; the helpers get it as fd 3"
say "A\$ vtpm_migrate send --staged --fd 3 --to hostb --domid $SRC_DOM --domain-uuid $(short "$DOM_UUID")"
say "B\$ vtpm_migrate recv --staged --fd 3 --domid $DST_DOM --domain-uuid $(short "$DOM_UUID") --announce $(short "$ANN")"
hear 6 ready send
hear 8 ready recv
fx_expect_ok "status on B" "$VM" status -d "$KB" --uuid "$VTPM_UUID"
printf '%s\n' "$FX_OUT" | grep -qx "last-accepted  *$GEN" || fx_fail "B is ready without accepting generation $GEN: $FX_OUT"
say "    A: ready    B: ready (its ledger accepts generation $GEN already: nothing to write after 'go')"
echo pull >&5
hear 6 sealed send
say "    xend on A, guest suspended: A <- pull   A: sealed (state pulled, generation $GEN taken, record sealed)"
t0=$EPOCHREALTIME
echo write >&5
echo go >&7
hear 8 "done" recv
t1=$EPOCHREALTIME
hear 6 "done" send
say "    image sent, xc_save and xc_restore done: A <- write, B <- go   B: done   A: done"
exec 5>&- 6<&- 7>&- 8<&-
wait "$spid" || fx_fail "send exit $?: $(cat "$FX_DIR/s.err")"
wait "$rpid" || fx_fail "recv exit $?: $(cat "$FX_DIR/r.err")"
DOWNTIME=$(($(usec "$t1") - $(usec "$t0")))

# ---- after: the source is finished, the guest goes on at B ---------------
step "after the record: A keeps no running copy, the guest goes on at B"
fx_expect_ok "status on A" env XENSTORED_PATH="$FX_DIR/xs-a/socket" "$VM" status -d "$KA" --domid "$SRC_DOM"
mark=$(printf '%s\n' "$FX_OUT" | sed -n 's/^left-host  *\(yes, at generation [0-9]*\).*/\1/p')
[ "$mark" = "yes, at generation $GEN" ] || fx_fail "no left-this-host mark for generation $GEN on A: $FX_OUT"
fx_expect_ok "the source guest's command" guest a cmd 0 "$PCR_READ"
[ "$FX_OUT" = "$RC_FAILURE" ] || fx_fail "the back end on A served a command after the record left: $FX_OUT"
say "A\$ vtpm_migrate status --domid $SRC_DOM: left-host $mark; a guest command on A gets TPM_RC_FAILURE now"
fx_expect_ok "finish on A" env XENSTORED_PATH="$FX_DIR/xs-a/socket" "$VM" finish -d "$KA" --domid "$SRC_DOM"
mig_assert_gone src
say "A\$ vtpm_migrate finish --domid $SRC_DOM  (xend destroys the domain): swtpm ended, its state deleted"
node_is b "$(be "$DST_DOM")/hotplug-status" connected || fx_fail "recv did not publish the vTPM on B"
guest_connects b "$DST_DOM"
PCR_B=$(guest_pcr16 b) || exit 1
[ "$PCR_B" = "$PCR_A" ] || fx_fail "the guest reads PCR 16 $PCR_B on B, $PCR_A on A"
say "B: recv published the vTPM; xend unpauses the guest; it reads PCR 16 through vtpm_backend: $(short "$PCR_B") (as on A)"

# ---- the two TPMs side by side ---------------------------------------------
mig_snapshot dst tpm2 after
step "the TPM, read with tpm2-tools (PCRs, NV, keys; a signature by the loaded key verified)"
# facts SNAPSHOT: "what<TAB>value" for each value that is not a reset value
facts() {
	awk 'function cut(v) { return substr(v, 1, 16) "..." }
		/^ *sha(1|256|384|512):/ { bank = $1; sub(":", "", bank); next }
		/^ *[0-9]+ *: *0x/ { split($0, f, ":"); v = $NF
			if (v !~ /^0x(0+|F+)$/) printf "%s PCR %d\t%s\n", bank, f[1], cut(substr(v, 3))
			next }
		/^nv / { h = $2; if (length(h) < 10) h = "0x" substr("0000000", 1, 10 - length(h)) substr(h, 3)
			printf "NV %s, %s bytes\t%s\n", h, $4, cut($NF); next }
		/^persistent / { printf "key %s, name\t%s\n", $2, cut($4); next }
		/^transient / { printf "loaded key, name\t%s\nloaded key signs\t%s\n", cut($4), $6 }' "$1"
}
facts "$FX_DIR/src.before" >"$FX_DIR/left"
facts "$FX_DIR/dst.after" >"$FX_DIR/right"
printf '  %-24s %-19s    %s\n' "" "source (A, before)" "destination (B, after)"
paste "$FX_DIR/left" "$FX_DIR/right" | grep -v '^sha\(1\|384\|512\)' |
	awk -F'\t' '{ printf "  %-24s %-19s %s %s\n", $1, $2, ($1 == $3 && $2 == $4 ? "==" : "!="), $4 }'
others=$(grep -c '^sha\(1\|384\|512\)' "$FX_DIR/left")
if ! cmp -s "$FX_DIR/src.before" "$FX_DIR/dst.after"; then
	diff "$FX_DIR/src.before" "$FX_DIR/dst.after" | head -n 6
	fx_fail "the destination's TPM differs from the source's (diff above)"
fi
grep -q ' sign ok$' "$FX_DIR/dst.after" || fx_fail "the loaded key does not sign on B"
say "  the $others extended PCRs of the other banks equal too: both snapshots, $(grep -c '' "$FX_DIR/src.before") lines, are identical"

# ---- figures ----------------------------------------------------------------
step "figures"
# The kernel's count for B's end of the connection (ss -i), less the FIN
# once A has closed its end.
wire=$(sed -n 's/.*bytes_received:\([0-9]*\).*/\1/p' "$FX_DIR/wire.ss" | head -n 1)
case $(head -c 10 "$FX_DIR/wire.ss") in CLOSE-WAIT* | LAST-ACK* | CLOSING*) wire=$((wire - 1)) ;; esac
say "on the wire: ${wire:-? (ss gives no byte count here)} bytes, the one vTPM record, sealed to B and signed by A;" \
	"the state it carries: $((PERM + VOL + SAVE)) bytes (permanent $PERM, volatile $VOL)"
say "the vTPM's share of the downtime, as xend sees it (write/go -> B's done): $(ms "$DOWNTIME")"
say "the raw control-channel floor in this run (GET_STATEBLOB x3, SET_STATEBLOB, INIT):" \
	"$(awk -v m="$FLOOR_MS" 'BEGIN { printf "%.1f ms", m }') (one run each; make bench runs 200)"
say "DEMO PASSED in $SECONDS s"
