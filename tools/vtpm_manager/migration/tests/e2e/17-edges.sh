#!/bin/bash
# run-e2e: early
# sanitizer: yes
#
# Safety at the edges, through the command contract: an administrator's
# command, an unauthenticated client or a forger must not clone, block or
# flood (tests/SECURITY.md, E1-E4).
#   E1 finish acts only once a whole record left (the mark stands).
#   E2 a refusal says what it is; only a cause this host can fix names the
#      command that loads the kept record, and says when that is safe.
#   E3 only a trusted sender's signed announcement of this very vTPM is
#      accepted in advance, and only a bounded step ahead.
#   E4 refused/ is bounded; what does not verify is never kept at the
#      expense of what does.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
# shellcheck source=../lib/tpmstate.sh
. "$(dirname "$0")/../lib/tpmstate.sh"
fx_init
# shellcheck source=../lib/migrate.sh
. "$(dirname "$0")/../lib/migrate.sh"

LD=$(fx_bin tools/ledger_dump) || exit 1
U=ed6e5000-0000-4e00-8000-ed6e50000001
mig_peers
mig_host hostc
mig_trust hostc hostb
fx_swtpm_running src tpm2
mig_fill src tpm2
SRC=(--ctrl "$(fx_swtpm_ctrl src)" --uuid "$U")
# record NAME [KEYDIR [TO]]: a record of src in $FX_DIR/NAME.rec; the source
# is brought back (its mark removed) for the next one.
record() {
	"$VM" send -d "${2:-$KA}" --to "${3:-hostb}" "${SRC[@]}" >"$FX_DIR/$1.rec" || fx_fail "send $1"
	"$VM" recover --force "${SRC[@]}" >/dev/null || fx_fail "recover --force after $1"
}

# ---- E1: finish of a vTPM that never left ----
fx_swtpm_running stay tpm2
mig_fill stay tpm2
fx_expect_fail "finish of a vTPM that sent nothing" "$VM" finish --ctrl "$(fx_swtpm_ctrl stay)" --uuid "$U"
printf '%s\n' "$FX_ERR" | grep -q 'no whole record of this vTPM left this host' || fx_fail "E1: $FX_ERR"
mig_tpm_running stay || fx_fail "E1: finish stopped a vTPM that never left"
mig_snapshot stay tpm2 after
mig_same stay.before stay.after
# A pending mark (a sender that died before its last byte) is no whole record.
printf 'generation 9\nboot %s\n' "$(cat /proc/sys/kernel/random/boot_id)" >"$FX_DIR/stay/vtpm-left.pending"
fx_expect_fail "finish with only a pending mark" "$VM" finish --ctrl "$(fx_swtpm_ctrl stay)" --uuid "$U"
mig_tpm_running stay || fx_fail "E1: finish stopped a vTPM whose record never left whole"
fx_expect_ok "recover removes the dead sender's pending mark" "$VM" recover --ctrl "$(fx_swtpm_ctrl stay)" --uuid "$U"
[ -e "$FX_DIR/stay/vtpm-left.pending" ] && fx_fail "E1: recover left the pending mark"
# One from an earlier boot may hide a mark lost in a crash: it stands.
printf 'generation 9\nboot 00000000-0000-0000-0000-000000000000\n' >"$FX_DIR/stay/vtpm-left.pending"
fx_expect_fail "recover with a pending mark of another boot" "$VM" recover --ctrl "$(fx_swtpm_ctrl stay)" --uuid "$U"
printf '%s\n' "$FX_ERR" | grep -q 'recover --force' || fx_fail "E1: $FX_ERR"
echo "ok: finish_acts_only_when_a_whole_record_left"

# ---- E2: the refusal line by cause ----
# no_load WHAT: the line names nothing that loads the record.
no_load() {
	printf '%s\n' "$FX_ERR" | grep -q 'vtpm_migrate recv' && fx_fail "$1: advises loading: $FX_ERR"
	return 0
}
# load_advice WHAT: the line names the load command and when it is safe, and
# the record it names is there.
load_advice() {
	local kept
	printf '%s\n' "$FX_ERR" | grep -q "only if the source did not resume the guest, load it with 'vtpm_migrate recv" ||
		fx_fail "$1: no load advice: $FX_ERR"
	kept=$(printf '%s\n' "$FX_ERR" | sed -n 's/.*; record kept in \([^:]*\): .*/\1/p')
	[ -f "$kept" ] || fx_fail "$1: the record named is not kept: $FX_ERR"
}
record good
new_dst
fx_expect_ok "first load" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/good.rec"
mig_teardown "$DST"
new_dst
fx_expect_fail "replay" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/good.rec"
printf '%s\n' "$FX_ERR" | grep -q 'replay or rollback refused; record kept in' || fx_fail "replay: $FX_ERR"
no_load replay
cp "$FX_DIR/good.rec" "$FX_DIR/tampered.rec"
byte=$(od -An -tu1 -j 300 -N1 "$FX_DIR/tampered.rec")
printf "\\$(printf %03o $((byte ^ 1)))" | dd of="$FX_DIR/tampered.rec" bs=1 seek=300 conv=notrunc status=none
cmp -s "$FX_DIR/good.rec" "$FX_DIR/tampered.rec" && fx_fail "tampered: no byte changed"
fx_expect_fail "tampered" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/tampered.rec"
printf '%s\n' "$FX_ERR" | grep -q 'does not verify.*; record not kept' || fx_fail "tampered: $FX_ERR"
no_load tampered
record self "$KA" self
fx_expect_fail "wrong recipient" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/self.rec"
printf '%s\n' "$FX_ERR" | grep -q 'addressed to key.*; record not kept' || fx_fail "recipient: $FX_ERR"
no_load "wrong recipient"
"$VM" trust -d "$FX_DIR/keys-hostc" "$KB/host.pub" >/dev/null 2>&1
record fromc "$FX_DIR/keys-hostc"
fx_expect_fail "untrusted sender" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/fromc.rec"
load_advice "untrusted sender"
record v2
new_dst tpm12
fx_expect_fail "TPM version" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/v2.rec"
printf '%s\n' "$FX_ERR" | grep -q 'TPM 2.0 state, this instance is a TPM 1.2' || fx_fail "version: $FX_ERR"
load_advice "TPM version"
fx_swtpm_running busy tpm2
fx_expect_fail "vTPM not waiting" "$VM" recv -d "$KB" --ctrl "$(fx_swtpm_ctrl busy)" --uuid "$U" <"$FX_DIR/v2.rec"
printf '%s\n' "$FX_ERR" | grep -q 'already running' || fx_fail "not waiting: $FX_ERR"
load_advice "vTPM not waiting"
echo "ok: the refusal advises loading only for a cause this host can fix"

# ---- E3: announcements ----
announce() {
	fx_expect_ok "send --check" "$VM" send -d "$KA" --to hostb "${SRC[@]}" "$@" --check
	printf '%s\n' "$FX_OUT" | sed -n 's/^announce //p'
}
# staged_ready ANN: a staged receiver given ANN; 0 if it said ready (then
# ended by end of input), its stderr in FX_ERR.
staged_ready() {
	printf '' | "$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --announce "$1" \
		3</dev/null >"$FX_DIR/said" 2>"$FX_DIR/err"
	FX_ERR=$(cat "$FX_DIR/err")
	grep -qx ready "$FX_DIR/said"
}
new_dst
before=$(acc "$KB")
ANN=$(announce)
# Forged: the generation field set to 2^64-1, the signature kept.
forged=${ANN:0:160}ffffffffffffffff${ANN:176}
staged_ready "$forged" && fx_fail "E3: a forged announcement was taken"
printf '%s\n' "$FX_ERR" | grep -q 'signature does not verify' || fx_fail "E3 forged: $FX_ERR"
[ "$(acc "$KB")" = "$before" ] || fx_fail "E3: a forged announcement moved the ledger to $(acc "$KB")"
# A trusted sender's genuine announcement, but of another vTPM.
OTHER=(--ctrl "$(fx_swtpm_ctrl src)" --uuid ed6e5000-0000-4e00-8000-ed6e50000002)
fx_expect_ok "send --check of another vTPM" "$VM" send -d "$KA" --to hostb "${OTHER[@]}" --check
staged_ready "$(printf '%s\n' "$FX_OUT" | sed -n 's/^announce //p')" &&
	fx_fail "E3: an announcement of another vTPM was taken"
printf '%s\n' "$FX_ERR" | grep -q 'another vTPM or domain' || fx_fail "E3 other vTPM: $FX_ERR"
# Of this vTPM but another domain.
staged_ready "$(announce --domain-uuid 0badc0de-0000-4000-8000-000000000001)" &&
	fx_fail "E3: an announcement for another domain was taken"
[ "$(acc "$KB")" = "$before" ] || fx_fail "E3: a refused announcement moved the ledger"
# Untrusted: host C's genuine announcement.
fx_expect_ok "send --check from host C" "$VM" send -d "$FX_DIR/keys-hostc" --to hostb "${SRC[@]}" --check
staged_ready "$(printf '%s\n' "$FX_OUT" | sed -n 's/^announce //p')" &&
	fx_fail "E3: an untrusted sender's announcement was taken"
# The old unauthenticated form is gone.
"$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --sender "$(sed -n 's/^id //p' "$KA/host.pub")" \
	--generation 18446744073709551615 </dev/null >/dev/null 2>&1
[ $? -eq 2 ] || fx_fail "E3: --sender/--generation are still taken"
[ "$(acc "$KB")" = "$before" ] || fx_fail "E3: the ledger moved: $(acc "$KB")"
# The genuine announcement, given back when its record does not come.
staged_ready "$ANN" || fx_fail "E3: the genuine announcement was refused: $FX_ERR"
[ "$(acc "$KB")" = "$before" ] || fx_fail "E3: an announcement whose record never came stayed accepted"
# Far ahead of the last accepted (host A's ledger seeded with a high sent
# mark): accepted as usual when the record comes, never in advance.
{
	printf 'vtpm-migration-ledger v1\n'
	"$LD" "$KA" | awk -v u="$U" '$1 != u'
	printf '%s 5000 0\n' "$U"
} >"$FX_DIR/ledger.body"
sum=$(sha256sum "$FX_DIR/ledger.body" | cut -d' ' -f1)
{
	cat "$FX_DIR/ledger.body"
	printf 'sha256 %s\n' "$sum"
} >"$KA/ledger"
FAR=$(announce)
for f in f.in f.out; do mkfifo "$FX_DIR/$f"; done
record far
"$VM" recv -d "$KB" "${DSTI[@]}" --fd 3 --staged --announce "$FAR" \
	<"$FX_DIR/f.in" >"$FX_DIR/f.out" 2>"$FX_DIR/f.err" 3<"$FX_DIR/far.rec" &
rpid=$!
exec 7>"$FX_DIR/f.in" 8<"$FX_DIR/f.out"
read -r -t 20 -u 8 said || fx_fail "E3 far: no word"
[ "$said" = ready ] || fx_fail "E3 far: said $said: $(cat "$FX_DIR/f.err")"
[ "$(acc "$KB")" = "$before" ] || fx_fail "E3: generation 5001 accepted in advance, $(acc "$KB")"
echo go >&7
read -r -t 20 -u 8 said
exec 7>&- 8<&-
wait "$rpid" || fx_fail "E3 far: receiver failed: $(cat "$FX_DIR/f.err")"
[ "$(acc "$KB")" = 5001 ] || fx_fail "E3 far: accepted $(acc "$KB") after the record"
echo "ok: only a signed announcement of this vTPM is accepted in advance, a bounded step ahead"

# ---- E4: refused/ is bounded ----
# forge N: a record sealed to host B by nobody B trusts, of the largest size
# (1 MiB): any client of a relocation port can send as many.
ID_B=$(sed -n 's/^id //p' "$KB/host.pub")
forge() {
	python3 - "$ID_B" "$U" "$FX_DIR/forged.rec" <<'PY'
import os, struct, sys, time, uuid
rid = bytes.fromhex(sys.argv[1]); vid = uuid.UUID(sys.argv[2]).bytes
total = 1024 * 1024
ct = total - 192 - 64
plain = ct - 16
h = b'XenvTPMr' + struct.pack('>II', 1, 192) + struct.pack('>HBB', 1, 2, 0)
h += os.urandom(16) + rid + bytes(16) + vid + struct.pack('>QQ', 1, int(time.time()))
h += os.urandom(32) + os.urandom(12)
h += struct.pack('>III', 1, 0, plain) + struct.pack('>III', 2, 0, 0) + struct.pack('>III', 3, 0, 0)
h += struct.pack('>I', ct) + bytes(8)
assert len(h) == 192
open(sys.argv[3], 'wb').write(h + os.urandom(ct + 64))
PY
}
kept_verified=$(find "$KB/refused" -name "$U.*" | sort)
[ -n "$kept_verified" ] || fx_fail "E4: no verified record kept so far"
for i in $(seq 40); do
	forge
	fx_expect_fail "forged record $i" "$VM" recv -d "$KB" "${DSTI[@]}" <"$FX_DIR/forged.rec"
	printf '%s\n' "$FX_ERR" | grep -Eq '; record (kept in|not kept)' || fx_fail "E4: the line does not say whether it kept it: $FX_ERR"
done
files=$(find "$KB/refused" -type f | wc -l)
bytes=$(du -sb "$KB/refused" | cut -f1)
[ "$files" -le 32 ] || fx_fail "E4: refused/ holds $files records"
[ "$bytes" -le $((16 * 1024 * 1024 + 65536)) ] || fx_fail "E4: refused/ holds $bytes bytes"
[ "$(find "$KB/refused" -name "$U.*" | sort)" = "$kept_verified" ] || fx_fail "E4: a verified record was dropped for forgeries"
find "$KB/refused" -name 'unverified.*' | grep -q . || fx_fail "E4: no unverified record kept at all"
echo "ok: refused/ stays within 32 records and 16 MiB, verified records first"
echo "PASS: edges"
