#!/bin/bash
# run-e2e: early
#
# Fault injection: a failure at any point of a migration loses nothing.
# For every case the outcome is asserted, not only the exit code: exit 1
# with one error line (or the process killed at the injection point), the
# source vTPM identical to before (PCRs, NV data, keys) and usable after
# `recover`, no running destination TPM, never a fresh TPM, both ledgers
# consistent and readable.
#
# The product has no injection points: the preload library
# tests/shim/fault_shim.c kills the process at the point VTPM_FAULT names.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

SHIM=$(fx_bin shim/fault_shim.so) || exit 1
# faulty POINT CMD...: CMD, killed at POINT.
faulty() {
	VTPM_FAULT=$1 LD_PRELOAD=$SHIM "${@:2}"
}
LD=$(fx_bin tools/ledger_dump) || exit 1
DMG=$(fx_bin tools/record_damage) || exit 1
U=4c6f7374-0000-4e6f-8e65-766572204c6f
OTHER_U=4c6f7374-1111-4e6f-8e65-766572204c6f

mig_peers
mig_host hostc
mig_trust hostc hostb

fx_swtpm_running src tpm2
mig_fill src tpm2
SRC=(--ctrl "$(fx_swtpm_ctrl src)" --uuid "$U")

# Not one injection point in the product.
leak=$(strings "$VM" | grep -E 'VTPM_FAULT|(send|recv|push)-(before|after|mid)-' | head -n 3 | tr '\n' ' ')
[ -z "$leak" ] || fx_fail "the production binary has fault injection points: $leak"

MARK=$FX_DIR/src/vtpm-left

# outcome CASE: what every case must leave behind. Once a whole record has
# left (the left-this-host mark stands), plain recover refuses and leaves the
# source stopped with its state; the destination's explicit refusal is what
# lets xend (or the administrator) bring it back with recover --force.
outcome() {
	if [ -e "$MARK" ]; then
		fx_expect_fail "$1: recover while the mark stands" "$VM" recover "${SRC[@]}"
		printf '%s\n' "$FX_ERR" | grep -q 'recover --force' || fx_fail "$1: refusal names no override: $FX_ERR"
		printf '%s\n' "$FX_ERR" | grep -q 'may already run at the destination' || fx_fail "$1: $FX_ERR"
		mig_assert_not_running src
		fx_expect_ok "$1: recover --force" "$VM" recover --force "${SRC[@]}"
		[ -e "$MARK" ] && fx_fail "$1: recover --force left the mark"
	fi
	fx_expect_ok "$1: recover" "$VM" recover "${SRC[@]}"
	mig_snapshot src tpm2 "after$n"
	mig_same src.before "src.after$n"
	grep -q ' sign ok$' "$FX_DIR/src.after$n" || fx_fail "$1: the source key does not sign"
	[ -n "${DST:-}" ] && mig_assert_not_running "$DST"
	"$LD" "$KA" >/dev/null || fx_fail "$1: host A ledger unreadable"
	"$LD" "$KB" >/dev/null || fx_fail "$1: host B ledger unreadable"
	echo "ok: $1"
}

# expect_one_line RC ERRFILE WORDS CASE
expect_one_line() {
	[ "$1" -eq 1 ] || fx_fail "$4: exit $1, expected 1: $(cat "$2")"
	[ "$(grep -c '' "$2")" -eq 1 ] || fx_fail "$4: not one error line: $(tr '\n' '|' <"$2")"
	grep -q -- "$3" "$2" || fx_fail "$4: error does not say '$3': $(cat "$2")"
}

# A good record from the source, for the stream cases.
fresh_record() { "$VM" send -d "$KA" --to hostb "${SRC[@]}" >"$FX_DIR/$1" || fx_fail "send for $1"; }

# ---- the sender dies ----
for point in send-before-pull send-after-pull send-after-ledger send-mid-write send-before-last-byte; do
	new_dst
	faulty "$point" "$VM" send -d "$KA" --to hostb "${SRC[@]}" 2>/dev/null |
		"$VM" recv -d "$KB" "${DSTI[@]}" 2>"$FX_DIR/err"
	rc=("${PIPESTATUS[@]}")
	[ "${rc[0]}" -eq 137 ] || fx_fail "$point: sender was not killed (exit ${rc[0]})"
	case $point in
	send-mid-write | send-before-last-byte) said="closed early" ;;
	*) said="no vTPM record arrived" ;; # died before its first byte
	esac
	expect_one_line "${rc[1]}" "$FX_DIR/err" "$said" "$point"
	# The mark is on disk before the last byte goes out, never earlier
	# than the whole record but one byte.
	if [ "$point" = send-before-last-byte ]; then
		grep -qx 'generation [0-9]*' "$MARK" || fx_fail "$point: no left-this-host mark before the last byte"
	elif [ -e "$MARK" ]; then
		fx_fail "$point: a mark for a record that never left whole"
	fi
	outcome "sender killed at $point"
done

# ---- the receiver dies ----
for point in recv-mid-read recv-after-ledger push-before-init; do
	new_dst
	"$VM" send -d "$KA" --to hostb "${SRC[@]}" |
		faulty "$point" "$VM" recv -d "$KB" "${DSTI[@]}"
	rc=("${PIPESTATUS[@]}")
	[ "${rc[1]}" -eq 137 ] || fx_fail "$point: receiver was not killed (exit ${rc[1]})"
	outcome "receiver killed at $point"
done
# Killed after INIT, before it could report success: the destination runs
# with the migrated state (never a fresh TPM) but xend sees the restore fail,
# resumes the source and destroys the new domain, whose vTPM teardown is
# finish. Then exactly the source is left.
new_dst
"$VM" send -d "$KA" --to hostb "${SRC[@]}" | faulty recv-after-init "$VM" recv -d "$KB" "${DSTI[@]}"
rc=("${PIPESTATUS[@]}")
[ "${rc[1]}" -eq 137 ] || fx_fail "recv-after-init: receiver was not killed"
mig_snapshot "$DST" tpm2 killed
mig_same src.before "$DST.killed"
mig_teardown "$DST"
mig_assert_gone "$DST"
outcome "receiver killed after INIT, destination torn down"

# ---- the stream ----
fresh_record good.rec
new_dst
head -c 5000 "$FX_DIR/good.rec" | "$VM" recv -d "$KB" "${DSTI[@]}" 2>"$FX_DIR/err"
expect_one_line "$?" "$FX_DIR/err" "closed early" "stream closed early"
# Only whole records are kept: a truncated stream is no copy of anything.
grep -q 'record kept' "$FX_DIR/err" && fx_fail "a truncated stream was kept: $(cat "$FX_DIR/err")"
[ -z "$(ls -A "$KB/refused" 2>/dev/null)" ] || fx_fail "refused/ holds a truncated stream: $(ls "$KB/refused")"
outcome "stream closed early"

# The source's send failed but its end of the stream stays open: recv gives
# up at its deadline, with nothing or half a record, and starts nothing.
mkfifo "$FX_DIR/stalled"
for part in 0 5000; do
	new_dst
	exec 8<>"$FX_DIR/stalled"
	[ "$part" -gt 0 ] && head -c "$part" "$FX_DIR/good.rec" >&8
	t0=$(date +%s%N)
	fx_expect_fail "recv from a stream that stalls after $part bytes" \
		"$VM" recv -d "$KB" "${DSTI[@]}" --timeout 1 <"$FX_DIR/stalled"
	took=$((($(date +%s%N) - t0) / 1000000))
	exec 8>&-
	printf '%s\n' "$FX_ERR" | grep -q 'no vTPM record within 1 s' || fx_fail "stalled stream: $FX_ERR"
	[ "$took" -lt 4000 ] || fx_fail "recv --timeout 1 took $took ms"
	mig_assert_not_running "$DST"
	outcome "recv_times_out_on_a_stream_that_stalls_after_${part}_bytes"
done

# Every bit position class at every byte, every truncation: in-process.
fx_expect_ok "flip every byte, truncate at every length" "$DMG" "$KB" "$FX_DIR/good.rec"
echo "ok: $FX_OUT"
# And through the command, one flip in each part: header, ciphertext, tag, signature.
size=$(stat -c %s "$FX_DIR/good.rec")
for off in 20 100 150 1000 $((size - 70)) $((size - 1)); do
	new_dst
	cp "$FX_DIR/good.rec" "$FX_DIR/flip.rec"
	byte=$(od -An -tu1 -j "$off" -N1 "$FX_DIR/flip.rec" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of="$FX_DIR/flip.rec" bs=1 seek="$off" conv=notrunc status=none
	"$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/flip.rec" 2>"$FX_DIR/err"
	expect_one_line "$?" "$FX_DIR/err" "recv:" "bit flip at $off"
	outcome "bit flip at byte $off"
done

# patch FILE OFFSET HEX: overwrite bytes of a copy of good.rec.
patch() {
	cp "$FX_DIR/good.rec" "$FX_DIR/$1"
	printf '%s' "$3" | xxd -r -p | dd of="$FX_DIR/$1" bs=1 seek="$2" conv=notrunc status=none
}
while IFS='|' read -r what off hex words; do
	new_dst
	patch case.rec "$off" "$hex"
	"$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/case.rec" 2>"$FX_DIR/err"
	expect_one_line "$?" "$FX_DIR/err" "$words" "$what"
	outcome "$what"
done <<'CASES'
unknown version|8|00000002|version 2 is not supported
unknown suite|16|0002|cipher suite 2
ciphertext length at its maximum|180|ffffffff|does not match its blob lengths
permanent length at its maximum|152|ffffffff|over the limit
volatile length at its maximum|164|ffffffff|over the limit
CASES

# Replay: good.rec is accepted once, then refused.
new_dst
fx_expect_ok "first use of the record" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/good.rec"
mig_teardown "$DST"
new_dst
fx_expect_fail "replay" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/good.rec"
printf '%s\n' "$FX_ERR" | grep -q 'replay or rollback refused' || fx_fail "replay: $FX_ERR"
outcome "replayed record"

# Splice into another vTPM, or another domain.
fresh_record splice.rec
new_dst
fx_expect_fail "record into another vTPM" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl "$DST")" --uuid "$OTHER_U" <"$FX_DIR/splice.rec"
printf '%s\n' "$FX_ERR" | grep -q 'record is for vTPM' || fx_fail "splice: $FX_ERR"
outcome "record spliced into another vTPM"
new_dst
fx_expect_fail "record into another domain" "$VM" recv -d "$KB" "${DSTI[@]}" \
	--domain-uuid 0badc0de-0000-4000-8000-000000000001 <"$FX_DIR/splice.rec"
printf '%s\n' "$FX_ERR" | grep -q 'record is for domain' || fx_fail "splice: $FX_ERR"
outcome "record spliced into another domain"

# Wrong recipient and untrusted sender.
"$VM" send -d "$KA" --to self "${SRC[@]}" >"$FX_DIR/self.rec" || fx_fail "send to self"
new_dst
fx_expect_fail "record sealed to another host" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/self.rec"
printf '%s\n' "$FX_ERR" | grep -q 'addressed to key' || fx_fail "wrong recipient: $FX_ERR"
outcome "wrong recipient"
# (Under another vTPM UUID: host C's ledger numbers it afresh.)
"$VM" send -d "$FX_DIR/keys-hostc" --to hostb --ctrl "$(fx_swtpm_ctrl src)" --uuid "$OTHER_U" \
	>"$FX_DIR/c.rec" || fx_fail "send from c"
new_dst
fx_expect_fail "record from an untrusted sender" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl "$DST")" --uuid "$OTHER_U" <"$FX_DIR/c.rec"
printf '%s\n' "$FX_ERR" | grep -q 'not a trusted peer' || fx_fail "untrusted sender: $FX_ERR"
refusal=$FX_ERR
outcome "untrusted sender"
# The refused record may be the only copy of the vTPM: it is kept as received,
# and the error line says where and how to load it once the cause is fixed.
kept=$(printf '%s\n' "$refusal" | sed -n 's/.*; record kept in \([^:]*\): .*/\1/p')
[ -f "$kept" ] || fx_fail "refused record not kept: $refusal"
# Its sender is not trusted: the header is unverified, so the name is not
# taken from it.
case $kept in "$KB/refused/unverified".*.vtpmrec) ;; *) fx_fail "kept under an unexpected name: $kept" ;; esac
cmp -s "$kept" "$FX_DIR/c.rec" || fx_fail "the kept record is not the record as received"
[ "$(stat -c %a "$kept")" = 600 ] || fx_fail "kept record has mode $(stat -c %a "$kept")"
[ "$(stat -c %a "$KB/refused")" = 700 ] || fx_fail "refused/ has mode $(stat -c %a "$KB/refused")"
printf '%s\n' "$refusal" | grep -qF "load it with 'vtpm_migrate recv -d $KB INSTANCE < $kept'" ||
	fx_fail "no way to load it in: $refusal"
mig_trust hostb hostc
new_dst
DSTO=(--ctrl "$(fx_swtpm_ctrl "$DST")" --uuid "$OTHER_U")
fx_expect_ok "load the kept record once the sender is trusted" "$VM" recv -d "$KB" "${DSTO[@]}" <"$kept"
mig_snapshot "$DST" tpm2 loaded
mig_same src.before "$DST.loaded"
mig_teardown "$DST"
DST=
echo "ok: recv_keeps_a_refused_whole_record_and_says_how_to_load_it"

# The destination swtpm is dead, or refuses the state.
fresh_record dead.rec
new_dst
fx_swtpm_stop "$DST"
fx_expect_fail "destination swtpm dead" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/dead.rec"
printf '%s\n' "$FX_ERR" | grep -q 'cannot connect' || fx_fail "dead destination: $FX_ERR"
outcome "destination swtpm dead"
fresh_record v12.rec
new_dst tpm12
fx_expect_fail "destination is a TPM 1.2" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/v12.rec"
printf '%s\n' "$FX_ERR" | grep -q 'this instance is a TPM 1.2' || fx_fail "version: $FX_ERR"
outcome "destination refuses: other TPM version"
fresh_record running.rec
n=$((n + 1))
DST=dst$n
fx_swtpm_running "$DST" tpm2
DSTI=(--ctrl "$(fx_swtpm_ctrl "$DST")" --uuid "$U")
fx_expect_fail "destination already running" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/running.rec"
printf '%s\n' "$FX_ERR" | grep -q 'already running' || fx_fail "running destination: $FX_ERR"
DST=
outcome "destination refuses: already running"

# The source swtpm is dead: send refuses, writes nothing, takes no generation.
fx_swtpm_running src2 tpm2
fx_swtpm_stop src2
before=$("$LD" "$KA")
fx_expect_fail "source swtpm dead" "$VM" send -d "$KA" --to hostb --ctrl "$(fx_swtpm_ctrl src2)" --uuid "$OTHER_U"
[ -z "$FX_OUT" ] || fx_fail "send wrote bytes for a dead source"
[ "$("$LD" "$KA")" = "$before" ] || fx_fail "send took a generation for a dead source"
fx_expect_fail "recover of a dead source says so" "$VM" recover --ctrl "$(fx_swtpm_ctrl src2)" --uuid "$OTHER_U"
DST=
outcome "source swtpm dead (other instance)"

# xenstored down (Xen mode).
fx_expect_fail "xenstored down" env XENSTORED_PATH="$FX_DIR/no-such-socket" "$VM" send -d "$KA" --to hostb --domid 5 \
	--domain-uuid 12345678-9abc-4def-8123-456789abcdef
printf '%s\n' "$FX_ERR" | grep -q 'xenstore' || fx_fail "xenstored down: $FX_ERR"
[ -z "$FX_OUT" ] || fx_fail "send wrote bytes without xenstored"
outcome "xenstored down"

# The receiver's ledger directory is read-only, or full.
if mkdir "$FX_DIR/kb-mnt" && mount -t tmpfs -o size=256k tmpfs "$FX_DIR/kb-mnt" 2>/dev/null; then
	fx_on_exit umount -l "$FX_DIR/kb-mnt"
	cp -a "$KB/." "$FX_DIR/kb-mnt/"
	fresh_record ro.rec
	mount -o remount,ro "$FX_DIR/kb-mnt" || fx_fail "remount read-only"
	new_dst
	fx_expect_fail "ledger directory read-only" "$VM" recv -d "$FX_DIR/kb-mnt" "${DSTI[@]}" <"$FX_DIR/ro.rec"
	printf '%s\n' "$FX_ERR" | grep -q 'ledger' || fx_fail "read-only: $FX_ERR"
	outcome "ledger directory read-only"
	mount -o remount,rw "$FX_DIR/kb-mnt" || fx_fail "remount read-write"
	before=$("$LD" "$FX_DIR/kb-mnt")
	dd if=/dev/zero of="$FX_DIR/kb-mnt/filler" bs=4k status=none 2>/dev/null
	new_dst
	fx_expect_fail "ledger directory full" "$VM" recv -d "$FX_DIR/kb-mnt" "${DSTI[@]}" <"$FX_DIR/ro.rec"
	printf '%s\n' "$FX_ERR" | grep -q 'ledger' || fx_fail "full: $FX_ERR"
	[ "$("$LD" "$FX_DIR/kb-mnt")" = "$before" ] || fx_fail "a full disk changed the ledger"
	outcome "ledger directory full"
else
	echo "SKIPPED: read-only and full ledger directory (cannot mount a tmpfs here)"
fi
# TPM 1.2: a failed migration (record damaged in transit) and recover.
fx_swtpm_running src12 tpm12
mig_fill src12 tpm12
"$VM" send -d "$KA" --to hostb --ctrl "$(fx_swtpm_ctrl src12)" --uuid "$OTHER_U" >"$FX_DIR/v12good.rec" ||
	fx_fail "send TPM 1.2"
cp "$FX_DIR/v12good.rec" "$FX_DIR/v12bad.rec"
printf 'X' | dd of="$FX_DIR/v12bad.rec" bs=1 seek=500 conv=notrunc status=none
n=$((n + 1))
fx_swtpm_waiting v12dst tpm12
fx_expect_fail "damaged TPM 1.2 record" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl v12dst)" --uuid "$OTHER_U" <"$FX_DIR/v12bad.rec"
mig_assert_not_running v12dst
fx_expect_fail "recover TPM 1.2 refused: the record left whole" "$VM" recover --ctrl "$(fx_swtpm_ctrl src12)" --uuid "$OTHER_U"
mig_assert_not_running src12
fx_expect_ok "recover --force TPM 1.2 (the destination refused)" "$VM" recover --force --ctrl "$(fx_swtpm_ctrl src12)" --uuid "$OTHER_U"
mig_snapshot src12 tpm12 after
mig_same src12.before src12.after
echo "ok: TPM 1.2 damaged record, source recovered"

# ---- a whole record left: never two live TPMs ----
# one_tpm_runs CASE DST: the destination runs, the source does not and its
# mark stands, so nothing starts it again on its own; plain recover refuses.
one_tpm_runs() {
	mig_tpm_running "$2" || fx_fail "$1: the destination does not run"
	grep -qx 'generation [0-9]*' "$MARK" || fx_fail "$1: no left-this-host mark: $(cat "$MARK" 2>&1)"
	fx_expect_fail "$1: recover" "$VM" recover "${SRC[@]}"
	printf '%s\n' "$FX_ERR" | grep -q 'recover --force' || fx_fail "$1: $FX_ERR"
	mig_assert_not_running src
	[ -n "$(compgen -G "$FX_DIR/src/tpm2-00.permall")" ] || fx_fail "$1: source state deleted"
	echo "ok: $1: exactly one TPM able to run"
}

# The sender is killed right after the record's last byte: xend's error path
# runs recover while the destination accepts the record.
new_dst
faulty send-after-last-byte "$VM" send -d "$KA" --to hostb "${SRC[@]}" 2>/dev/null |
	"$VM" recv -d "$KB" "${DSTI[@]}"
rc=("${PIPESTATUS[@]}")
[ "${rc[0]}" -eq 137 ] || fx_fail "send-after-last-byte: sender was not killed (exit ${rc[0]})"
[ "${rc[1]}" -eq 0 ] || fx_fail "send-after-last-byte: the destination refused a whole record"
one_tpm_runs "sender killed after the last byte" "$DST"
# The administrator checked: the destination is torn down, the source comes
# back with exactly its state.
mig_teardown "$DST"
fx_expect_ok "recover --force" "$VM" recover --force "${SRC[@]}"
printf '%s\n' "$FX_OUT" | grep -q 'runs again' || fx_fail "recover --force says: $FX_OUT"
mig_snapshot src tpm2 forced
mig_same src.before src.forced
echo "ok: recover_force_brings_back_the_same_state"

# Killed between send and finish (send and recv done, the source's xend dies
# before finish; on its restart the error path recovers).
new_dst
"$VM" send -d "$KA" --to hostb "${SRC[@]}" | "$VM" recv -d "$KB" "${DSTI[@]}" ||
	fx_fail "send | recv"
one_tpm_runs "killed between send and finish" "$DST"
fx_expect_ok "recover --force after the check" "$VM" recover --force "${SRC[@]}"
mig_teardown "$DST"

# Host "reboot" after a completed send: the source swtpm dies with the host;
# what is on disk after the reboot is what counts.
new_dst
"$VM" send -d "$KA" --to hostb "${SRC[@]}" | "$VM" recv -d "$KB" "${DSTI[@]}" ||
	fx_fail "send | recv"
kill -KILL "$(fx_swtpm_pid src)"
fx_wait_for 5 fx_not fx_swtpm_alive src || fx_fail "source swtpm survived the reboot"
one_tpm_runs "host reboot after a completed send" "$DST"
fx_expect_ok "recover --force with no swtpm" "$VM" recover --force "${SRC[@]}"
printf '%s\n' "$FX_OUT" | grep -q 'next vTPM start will use the state' || fx_fail "recover --force says: $FX_OUT"
[ -e "$MARK" ] && fx_fail "recover --force left the mark"
echo "ok: recover_force_without_swtpm_removes_the_mark"

# finish deletes the mark with the state.
fx_swtpm_running gone tpm2
echo "generation 7" >"$FX_DIR/gone/vtpm-left"
fx_expect_ok "finish with a mark" "$VM" finish --ctrl "$(fx_swtpm_ctrl gone)" --uuid "$OTHER_U"
mig_assert_gone gone
[ -e "$FX_DIR/gone/vtpm-left" ] && fx_fail "finish left the mark"
echo "ok: finish_deletes_the_mark_with_the_state"

# ---- finish: the source swtpm process must be gone before its state goes ----
# state_files NAME: swtpm's state files are still in NAME's directory.
state_files() { compgen -G "$FX_DIR/$1/tpm*-00.*" >/dev/null; }

# A stopped swtpm does not answer its control channel but keeps the whole
# state in memory: finish must end the process, not take silence for "gone".
fx_swtpm_running stopped tpm2
tpm2_populate "$FX_DIR/stopped" || fx_fail "populate stopped"
echo "generation 1" >"$FX_DIR/stopped/vtpm-left" # a whole record left
kill -STOP "$(fx_swtpm_pid stopped)"
fx_expect_ok "finish of a SIGSTOP'd swtpm" "$VM" finish --ctrl "$(fx_swtpm_ctrl stopped)" --uuid "$OTHER_U"
mig_assert_gone stopped
echo "ok: finish_ends_a_stopped_swtpm_before_deleting_its_state"

# Another client holds swtpm's single control connection.
fx_swtpm_running held tpm2
tpm2_populate "$FX_DIR/held" || fx_fail "populate held"
echo "generation 1" >"$FX_DIR/held/vtpm-left"
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); open(sys.argv[2], "w").close(); time.sleep(60)' \
	"$(fx_swtpm_ctrl held)" "$FX_DIR/held.connected" &
holder=$!
fx_wait_for 10 test -e "$FX_DIR/held.connected" || fx_fail "held: the other client did not connect"
sleep 0.2 # swtpm accepts it right after connect returns
if "$VTPM_TEST_BIN/tools/ctrl_copy" --status "$(fx_swtpm_ctrl held)" >/dev/null 2>&1; then
	fx_fail "held: swtpm still answers another client; the case tests nothing"
fi
fx_expect_ok "finish while another client holds the control connection" \
	"$VM" finish --ctrl "$(fx_swtpm_ctrl held)" --uuid "$OTHER_U"
mig_assert_gone held
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
echo "ok: finish_ends_a_swtpm_whose_control_connection_is_held"

# Something answers on the control socket (it accepts, says nothing) and no
# swtpm process serves that state: finish cannot tell it is gone, so it
# refuses and deletes nothing.
fx_swtpm_running mute tpm2
fx_swtpm_stop mute
state_files mute || fx_fail "mute: no state files to keep"
echo "generation 1" >"$FX_DIR/mute/vtpm-left"
rm -f "$FX_DIR/mute/data.ctrl"
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); time.sleep(60)' \
	"$(fx_swtpm_ctrl mute)" &
mute=$!
fx_wait_for 5 test -S "$(fx_swtpm_ctrl mute)" || fx_fail "mute listener did not start"
fx_expect_fail "finish when the process cannot be found" "$VM" finish --ctrl "$(fx_swtpm_ctrl mute)" --uuid "$OTHER_U"
printf '%s\n' "$FX_ERR" | grep -q 'state kept' || fx_fail "mute: $FX_ERR"
state_files mute || fx_fail "finish deleted state it could not prove unused"
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null
echo "ok: finish_deletes_nothing_unless_the_process_is_gone"

echo "PASS: $n fault cases, each leaving the source identical and usable"
