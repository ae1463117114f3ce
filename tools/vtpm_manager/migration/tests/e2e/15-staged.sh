#!/bin/bash
# sanitizer: yes
#
# The staged helpers (send/recv --staged): words on stdin/stdout, the record
# on --fd. The sender says `ready`, takes `pull` (says `sealed`) and `write`
# (says `done`); the receiver says `ready` and takes `go` (says `done`). End
# of input or another word before the last step: nothing written or loaded,
# exit 1 with one line, the source untouched. A waiting helper holds no lock.
# A receiver given the source's signed announcement of the record (--announce,
# from send --check, as xend's vtpm_check passes it) accepts its generation
# before 'ready' and takes it back if that record does not come or does not run.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

LD=$(fx_bin tools/ledger_dump) || exit 1
U=57a9ed00-0000-4a9e-8d00-57a9ed000001
mig_peers
fx_swtpm_running src tpm2
mig_fill src tpm2
SRC=(--ctrl "$(fx_swtpm_ctrl src)" --uuid "$U")
MARK=$FX_DIR/src/vtpm-left

# lock_free DIR: nobody holds DIR's ledger lock.
lock_free() { flock -n "$1/ledger.lock" true; }

# expect_line FD WORD WHO: the next line on FD is WORD (within 20 s).
expect_line() {
	local got
	read -r -t 20 -u "$1" got || fx_fail "$3: no '$2' (end of output or timeout)"
	[ "$got" = "$2" ] || fx_fail "$3: said '$got', expected '$2'"
}

# ---- the happy path, both helpers started early, words sent one by one ----
new_dst
for f in s.in s.out r.in r.out stream; do mkfifo "$FX_DIR/$f"; done
"$VM" send -d "$KA" --to hostb "${SRC[@]}" --fd 3 --staged \
	<"$FX_DIR/s.in" >"$FX_DIR/s.out" 2>"$FX_DIR/s.err" 3>"$FX_DIR/stream" &
spid=$!
"$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged \
	<"$FX_DIR/r.in" >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" 3<"$FX_DIR/stream" &
rpid=$!
exec 5>"$FX_DIR/s.in" 6<"$FX_DIR/s.out" 7>"$FX_DIR/r.in" 8<"$FX_DIR/r.out"
expect_line 6 ready sender
expect_line 8 ready receiver
# Both wait: neither holds a ledger lock, another migration could run.
lock_free "$KA" || fx_fail "the waiting sender holds host A's ledger lock"
lock_free "$KB" || fx_fail "the waiting receiver holds host B's ledger lock"
mig_tpm_running src || fx_fail "the source stopped running"
mig_assert_not_running "$DST"
echo pull >&5
expect_line 6 sealed sender
lock_free "$KA" || fx_fail "the sealed sender holds host A's ledger lock"
# The mark is on disk, pending, before the record goes out; it stands only
# once the whole record but its last byte is out.
grep -qx 'generation 1' "$MARK.pending" || fx_fail "no pending left-this-host mark before the record goes out"
[ -e "$MARK" ] && fx_fail "the mark stands before a byte of the record went out"
echo write >&5
echo go >&7
expect_line 6 "done" sender
expect_line 8 "done" receiver
exec 5>&- 6<&- 7>&- 8<&-
wait "$spid" || fx_fail "sender exit $?: $(cat "$FX_DIR/s.err")"
wait "$rpid" || fx_fail "receiver exit $?: $(cat "$FX_DIR/r.err")"
[ -s "$FX_DIR/s.err" ] && fx_fail "sender wrote to stderr: $(cat "$FX_DIR/s.err")"
mig_tpm_running "$DST" || fx_fail "the destination does not run"
mig_snapshot "$DST" tpm2 after
mig_same src.before "$DST.after"
grep -qx 'generation 1' "$MARK" || fx_fail "mark after the staged send: $(cat "$MARK")"
mig_teardown "$DST"
echo "ok: staged_send_and_recv_move_the_vtpm"
# The destination's explicit success would let xend finish; here the source
# is brought back for the next cases.
fx_expect_ok "recover --force" "$VM" recover --force "${SRC[@]}"

# ---- the sender stops before the last step ----
# staged_send WORDS...: run the staged sender with these lines as its input,
# the stream into $FX_DIR/out.rec; its stdout in SAID, stderr in FX_ERR.
staged_send() {
	{ [ $# -eq 0 ] || printf '%s\n' "$@"; } | "$VM" send -d "$KA" --to hostb "${SRC[@]}" --fd 3 --staged \
		3>"$FX_DIR/out.rec" >"$FX_DIR/said" 2>"$FX_DIR/err"
	rc=$?
	SAID=$(tr '\n' ' ' <"$FX_DIR/said")
	FX_ERR=$(cat "$FX_DIR/err")
}
while IFS='|' read -r what words said reason; do
	ledger_before=$("$LD" "$KA")
	words=${words//ESC/$'\033'}
	# shellcheck disable=SC2086 # a word list
	staged_send $words
	[ "$rc" -eq 1 ] || fx_fail "$what: exit $rc: $FX_ERR"
	[ "$(grep -c '' "$FX_DIR/err")" -eq 1 ] || fx_fail "$what: not one error line: $FX_ERR"
	printf '%s\n' "$FX_ERR" | grep -qF -- "$reason" || fx_fail "$what: error does not say '$reason': $FX_ERR"
	[ "$SAID" = "$said" ] || fx_fail "$what: said '$SAID', expected '$said'"
	[ -s "$FX_DIR/out.rec" ] && fx_fail "$what: bytes written to the stream"
	[ -e "$MARK" ] && fx_fail "$what: a mark for a record that never left"
	case $said in
	*sealed*) ;; # pulled: a generation was taken, nothing else
	*) [ "$("$LD" "$KA")" = "$ledger_before" ] || fx_fail "$what: the ledger changed" ;;
	esac
	fx_expect_ok "$what: recover" "$VM" recover "${SRC[@]}"
	mig_snapshot src tpm2 "after$n"
	n=$((n + 1))
	mig_same src.before "src.after$((n - 1))"
	echo "ok: staged sender: $what"
done <<'CASES'
end of input before pull||ready |input ended before 'pull': nothing pulled or written
another word before pull|push|ready |expected 'pull', got 'push': nothing pulled or written
end of input before write|pull|ready sealed |input ended before 'write': nothing written
another word before write|pull go|ready sealed |expected 'write', got 'go': nothing written
a line with control bytes|pull wrESCite|ready sealed |expected 'write', got 'wr?ite'
CASES

# ---- the receiver stops before the last step ----
"$VM" send -d "$KA" --to hostb "${SRC[@]}" >"$FX_DIR/good.rec" || fx_fail "send"
fx_expect_ok "recover --force" "$VM" recover --force "${SRC[@]}"
for words in "" "stop" "GO"; do
	new_dst
	ledger_before=$("$LD" "$KB")
	# shellcheck disable=SC2086 # a word list
	{ [ -z "$words" ] || printf '%s\n' $words; } | "$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged \
		3<"$FX_DIR/good.rec" >"$FX_DIR/said" 2>"$FX_DIR/err"
	rc=$?
	[ "$rc" -eq 1 ] || fx_fail "receiver given '$words': exit $rc: $(cat "$FX_DIR/err")"
	[ "$(grep -c '' "$FX_DIR/err")" -eq 1 ] || fx_fail "receiver given '$words': $(cat "$FX_DIR/err")"
	grep -q "nothing read or loaded" "$FX_DIR/err" || fx_fail "receiver given '$words': $(cat "$FX_DIR/err")"
	[ "$(cat "$FX_DIR/said")" = ready ] || fx_fail "receiver given '$words' said: $(cat "$FX_DIR/said")"
	mig_assert_not_running "$DST"
	[ "$("$LD" "$KB")" = "$ledger_before" ] || fx_fail "receiver given '$words' changed the ledger"
	echo "ok: staged receiver: '${words:-end of input}' before go loads nothing"
done
# The record was not consumed: a staged receiver given `go` loads it.
new_dst
printf 'go\n' | "$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged 3<"$FX_DIR/good.rec" >"$FX_DIR/said" ||
	fx_fail "staged recv with go"
[ "$(tr '\n' ' ' <"$FX_DIR/said")" = "ready done " ] || fx_fail "receiver said: $(cat "$FX_DIR/said")"
mig_tpm_running "$DST" || fx_fail "the destination does not run after go"

# A staged helper that cannot prepare never says ready.
printf 'pull\nwrite\n' | "$VM" send -d "$KA" --to nobody "${SRC[@]}" --fd 3 --staged 3>"$FX_DIR/x.rec" \
	>"$FX_DIR/said" 2>"$FX_DIR/err"
rc=$?
if [ "$rc" -ne 1 ] || [ -s "$FX_DIR/said" ] || [ -s "$FX_DIR/x.rec" ]; then
	fx_fail "unprepared sender: exit $rc, said '$(cat "$FX_DIR/said")', $(cat "$FX_DIR/err")"
fi
"$VM" send -d "$KA" --to hostb "${SRC[@]}" --staged </dev/null >/dev/null 2>&1
[ $? -eq 2 ] || fx_fail "--staged without --fd is not a usage error"
echo "ok: staged_helpers_refuse_before_ready"

# ---- the announced record (xend's vtpm_check): accepted before 'ready' ----
# acc DIR: the accepted mark of vTPM U in DIR's ledger (0 when none).
# next_record NAME: GEN and ANN as send --check announces them, then that
# record in $FX_DIR/NAME.rec (the source brought back after it).
next_record() {
	fx_expect_ok "send --check" "$VM" send -d "$KA" --to hostb "${SRC[@]}" --check
	GEN=$(printf '%s\n' "$FX_OUT" | sed -n 's/^generation //p')
	ANN=$(printf '%s\n' "$FX_OUT" | sed -n 's/^announce //p')
	if [ -z "$GEN" ] || [ -z "$ANN" ]; then fx_fail "send --check announced nothing: $FX_OUT"; fi
	"$VM" send -d "$KA" --to hostb "${SRC[@]}" >"$FX_DIR/$1.rec" || fx_fail "send $1"
	fx_expect_ok "recover --force" "$VM" recover --force "${SRC[@]}"
}
# The announced record comes: its generation is on disk before 'ready', and
# 'go' does not write the ledger again (same file: it is replaced whole).
next_record ann
new_dst
for f in a.in a.out; do mkfifo "$FX_DIR/$f"; done
"$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --announce "$ANN" \
	<"$FX_DIR/a.in" >"$FX_DIR/a.out" 2>"$FX_DIR/a.err" 3<"$FX_DIR/ann.rec" &
rpid=$!
exec 7>"$FX_DIR/a.in" 8<"$FX_DIR/a.out"
expect_line 8 ready receiver
[ "$(acc "$KB")" = "$GEN" ] || fx_fail "announced generation $GEN not accepted before ready: $(acc "$KB")"
lock_free "$KB" || fx_fail "the ready receiver holds host B's ledger lock"
ino=$(stat -c %i "$KB/ledger")
echo go >&7
expect_line 8 "done" receiver
exec 7>&- 8<&-
wait "$rpid" || fx_fail "receiver exit $?: $(cat "$FX_DIR/a.err")"
mig_tpm_running "$DST" || fx_fail "the destination does not run"
[ "$(stat -c %i "$KB/ledger")" = "$ino" ] || fx_fail "go wrote the ledger again"
[ "$(acc "$KB")" = "$GEN" ] || fx_fail "accepted mark after go: $(acc "$KB")"
echo "ok: staged receiver: the announced generation is accepted before ready"

# It never comes (end of input, or a damaged record): the accept is taken
# back and the record, kept, loads with a plain recv.
for how in eof damaged; do
	prev=$(acc "$KB")
	next_record "$how"
	cp "$FX_DIR/$how.rec" "$FX_DIR/$how.sent"
	if [ "$how" = damaged ]; then
		size=$(stat -c %s "$FX_DIR/$how.sent")
		# flip every bit of one signature byte (setting it could leave it as it was)
		byte=$(od -An -tu1 -j $((size - 40)) -N1 "$FX_DIR/$how.sent")
		printf "\\$(printf %03o $((byte ^ 255)))" |
			dd of="$FX_DIR/$how.sent" bs=1 seek=$((size - 40)) conv=notrunc status=none
		words=go
	else
		words=
	fi
	new_dst
	{ [ -z "$words" ] || echo "$words"; } | "$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged \
		--announce "$ANN" 3<"$FX_DIR/$how.sent" >/dev/null 2>"$FX_DIR/err"
	[ $? -eq 1 ] || fx_fail "$how: receiver did not fail: $(cat "$FX_DIR/err")"
	mig_assert_not_running "$DST"
	[ "$(acc "$KB")" = "$prev" ] || fx_fail "$how: accept not taken back: $(acc "$KB"), was $prev"
	grep -q -- '--allow-rollback' "$FX_DIR/err" && fx_fail "$how: the kept record needs a rollback: $(cat "$FX_DIR/err")"
	fx_expect_ok "$how: plain recv of the record" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/$how.rec"
	[ "$(acc "$KB")" = "$GEN" ] || fx_fail "$how: accepted mark after the plain recv: $(acc "$KB")"
	echo "ok: staged receiver: announced record $how: accept taken back"
done

# The receiver is killed after 'ready' (its host crashed): its advance
# accept stays. That only refuses the announced generation here (never a
# load twice); the guide says what the administrator does.
next_record killed
new_dst
for f in k.in k.out; do mkfifo "$FX_DIR/$f"; done
"$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --announce "$ANN" \
	<"$FX_DIR/k.in" >"$FX_DIR/k.out" 2>/dev/null 3<"$FX_DIR/killed.rec" &
rpid=$!
exec 7>"$FX_DIR/k.in" 8<"$FX_DIR/k.out"
expect_line 8 ready receiver
kill -KILL "$rpid"
wait "$rpid" 2>/dev/null
exec 7>&- 8<&-
mig_assert_not_running "$DST"
[ "$(acc "$KB")" = "$GEN" ] || fx_fail "killed receiver: accepted mark $(acc "$KB"), expected $GEN"
fx_expect_fail "the killed receiver's record" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/killed.rec"
printf '%s\n' "$FX_ERR" | grep -q "generation $GEN .* is not newer than the last accepted ($GEN)" ||
	fx_fail "killed receiver: $FX_ERR"
mig_assert_not_running "$DST"
echo "ok: staged receiver killed after ready: its generation stays accepted, nothing loaded"

# Another record than the one announced: the advance accept is taken back
# and the record accepted as usual.
next_record announced
ANNOUNCED=$ANN
next_record other
new_dst
printf 'go\n' | "$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --announce "$ANNOUNCED" \
	3<"$FX_DIR/other.rec" >"$FX_DIR/said" 2>"$FX_DIR/err" ||
	fx_fail "announced $((GEN - 1)), sent $GEN: $(cat "$FX_DIR/err")"
mig_tpm_running "$DST" || fx_fail "the destination does not run"
[ "$(acc "$KB")" = "$GEN" ] || fx_fail "accepted mark $(acc "$KB"), expected $GEN"
echo "ok: staged receiver: another record than announced is accepted as usual"
echo "PASS: staged helpers"
