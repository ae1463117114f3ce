#!/bin/bash
# sanitizer: yes
#
# vtpm_backend, the guest's TPM back end, against the real xenstored and
# real swtpm (TPM 2.0 and 1.2). The hypervisor's grant table and event
# channels are stood in for by tests/shim/tpmif_front_shim.so;
# tools/tpmif_front plays Linux's xen-tpmfront on the shared page: the
# xenbus handshake, TPM commands through the page, hostile pages, the
# locality policy, the left-this-host mark, a resume with a new ring, a
# guest flooding the log, and the teardown that runs the hotplug script's
# remove.
# shellcheck source-path=SCRIPTDIR/../lib
# shellcheck source=../lib/fixtures.sh
. "$(dirname "$0")/../lib/fixtures.sh"
fx_init

BACKEND=$(fx_bin vtpm_backend) || exit 1
FRONT=$(fx_bin tools/tpmif_front) || exit 1
SHIM=$(fx_bin shim/tpmif_front_shim.so) || exit 1
GNT=$FX_DIR/grants
EVT_IN=$FX_DIR/evt-in
EVT_OUT=$FX_DIR/evt-out
ON_CLOSE=$FX_DIR/on-close
BE5=/local/domain/0/backend/vtpm/5/0
FE5=/local/domain/5/device/vtpm/0

GETRANDOM8=80010000000c0000017b0008
EXTEND_VALUE=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# TPM2_PCR_Extend(PCR 16, sha256) with an empty password session
PCR_EXTEND=80020000004100000182000000100000000940000009000000000000000001000b$EXTEND_VALUE
# TPM2_PCR_Read(sha256: PCR 16)
PCR_READ16=8001000000140000017e00000001000b03000001
RAND8_OK=800100000014000000000008
# TPM2_CreatePrimary(owner, RSA 3072 storage key): seconds of prime search
CREATE_RSA3072=80020000004300000131400000010000000940000009000000000000040000000000
CREATE_RSA3072+=1a0001000b00030072000000060080004300100c00000000000000000000000000
REFUSED2=80010000000a00000101
LOCALITY2=80010000000a00000907   # TPM_RC_LOCALITY
# TPM 1.2: TPM_Extend(PCR 16, 0x11...), TPM_PCRRead(16)
EXTEND12=00c10000002200000014000000101111111111111111111111111111111111111111
PCRREAD12=00c10000000e0000001500000010
OK12=00c40000001e00000000
REFUSED12=00c40000000a00000009   # TPM_FAIL
LOCALITY12=00c40000000a0000003d  # TPM_BAD_LOCALITY

fx_xenstored_start xenstored
fx_swtpm_running tpm tpm2
DATA=$(fx_swtpm_data tpm)
fx_swtpm_running tpm12 tpm12
DATA12=$(fx_swtpm_data tpm12)

# 8 pages of "guest memory": grant ref R is page R.
dd if=/dev/zero of="$GNT" bs=4096 count=8 status=none || fx_fail "grant file"
mkfifo "$EVT_IN" "$EVT_OUT" || fx_fail "FIFOs"
# What the hotplug script would do on remove: here, record how it was run.
cat >"$ON_CLOSE" <<EOF
#!/bin/sh
echo "\$1 \$XENBUS_PATH" >>"$FX_DIR/on-close.log"
EOF
chmod +x "$ON_CLOSE"

front() { "$FRONT" "$GNT" "$EVT_IN" "$EVT_OUT" "$@"; }
node() { xenstore-read "$1" 2>/dev/null; }
is_node() { [ "$(node "$1")" = "$2" ]; }

# toolstack DOMID: the nodes xend writes for a vTPM device.
toolstack() {
	local be=/local/domain/0/backend/vtpm/$1/0 fe=/local/domain/$1/device/vtpm/0
	fx_expect_ok "toolstack nodes" xenstore-write "$be/frontend" "$fe" "$be/frontend-id" "$1" \
		"$be/online" 1 "$be/state" 1 "$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1
}

# start_backend DOMID NAME [OPTION...]: a back end for that device, under
# the shim, on the TPM 2.0 (--data given: another).
start_backend() {
	local dom=$1 name=$2
	shift 2
	(VTPM_SHIM_GNT=$GNT VTPM_SHIM_EVT_IN=$EVT_IN VTPM_SHIM_EVT_OUT=$EVT_OUT LD_PRELOAD=$SHIM \
		exec "$BACKEND" --backend "/local/domain/0/backend/vtpm/$dom/0" --data "$DATA" \
		--pidfile "$FX_DIR/$name.pid" --on-close "$ON_CLOSE" "$@" 2>>"$FX_DIR/$name.log" &)
	fx_wait_for 5 test -s "$FX_DIR/$name.pid" || fx_fail "back end $name did not start"
}
be_pid() { cat "$FX_DIR/$1.pid" 2>/dev/null; }
be_alive() { fx_pid_is "$(be_pid "$1")" vtpm_backend; }
# stop_backend NAME: SIGTERM, as the hotplug script's remove does.
stop_backend() {
	kill -TERM "$(be_pid "$1")"
	fx_wait_for 5 fx_not test -e "$FX_DIR/$1.pid" || fx_fail "back end $1 did not end on SIGTERM"
}

# guest_connects DOMID RING PORT: the frontend offers its ring, the TPM
# runs; the back end must connect.
guest_connects() {
	local be=/local/domain/0/backend/vtpm/$1/0 fe=/local/domain/$1/device/vtpm/0
	fx_wait_for 5 is_node "$be/state" 2 || fx_fail "back end of domain $1 not in InitWait"
	fx_expect_ok "frontend $1's ring" xenstore-write "$fe/ring-ref" "$2" "$fe/event-channel" "$3" \
		"$fe/feature-protocol-v2" 1 "$fe/state" 3 "$be/hotplug-status" connected
	fx_wait_for 5 is_node "$be/state" 4 || fx_fail "back end of domain $1 not Connected"
}

# expect_response DESC HEX-PREFIX FRONT-ARGS...: the answer must start so.
expect_response() {
	local desc=$1 want=$2
	shift 2
	fx_expect_ok "$desc" front "$@"
	case $FX_OUT in
	"$want"*) ;;
	*) fx_fail "$desc: response '$FX_OUT', expected it to start with '$want'" ;;
	esac
}

# ---- handshake: InitWait, and no connection before the TPM runs ----
toolstack 5
start_backend 5 be5
fx_wait_for 5 is_node "$BE5/state" 2 || fx_fail "back end not in InitWait: $(node "$BE5/state")"
is_node "$BE5/feature-protocol-v2" 1 || fx_fail "no feature-protocol-v2"

# The guest writes its ring and submits at once: no notification reaches
# anyone (the back end has not bound the port yet).
front cmd 0 "$GETRANDOM8" -n -t 1 >/dev/null 2>&1
fx_expect_ok "frontend ring nodes" xenstore-write "$FE5/ring-ref" 0 "$FE5/event-channel" 7 \
	"$FE5/feature-protocol-v2" 1 "$FE5/state" 3
sleep 0.5
is_node "$BE5/state" 2 || fx_fail "back end connected before hotplug-status=connected"
fx_expect_ok "peek" front peek 0
[ "${FX_OUT%% *}" = 1 ] || fx_fail "command served before the TPM was started: $FX_OUT"

# recv (or the hotplug script) says the TPM runs: connect, serve the waiting command.
fx_expect_ok "TPM started" xenstore-write "$BE5/hotplug-status" connected
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "back end not Connected: $(node "$BE5/state")"
expect_response "the command waiting before the connection is answered" \
	"$RAND8_OK" wait 0 3000

# ---- TPM 2.0 commands through the page ----
expect_response "GetRandom" "$RAND8_OK" cmd 0 "$GETRANDOM8"
[ "${#FX_OUT}" -eq 40 ] || fx_fail "GetRandom answer has the wrong length: $FX_OUT"
expect_response "PCR_Extend" "800200000013000000000000" cmd 0 "$PCR_EXTEND"
want=$(printf '%064d' 0 | xxd -r -p | cat - <(printf '%s' "$EXTEND_VALUE" | xxd -r -p) |
	sha256sum | cut -c1-64)
fx_expect_ok "PCR_Read" front cmd 0 "$PCR_READ16"
[ "${FX_OUT: -64}" = "$want" ] || fx_fail "PCR 16 is ${FX_OUT: -64}, expected $want"

# ---- the locality policy: by default locality 0 only ----
# Refused at once with TPM_RC_LOCALITY, never sent to swtpm: PCR 16 (which
# any locality may extend) does not move.
for loc in 1 4; do
	expect_response "GetRandom at locality $loc refused" "$LOCALITY2" cmd 0 "$GETRANDOM8" -o "$loc"
done
expect_response "PCR_Extend at locality 3 refused" "$LOCALITY2" cmd 0 "$PCR_EXTEND" -o 3
fx_expect_ok "PCR_Read" front cmd 0 "$PCR_READ16"
[ "${FX_OUT: -64}" = "$want" ] || fx_fail "a refused PCR_Extend reached swtpm: PCR 16 is ${FX_OUT: -64}"
expect_response "a TPM 1.2 command at locality 3 gets TPM_BAD_LOCALITY" "$LOCALITY12" \
	cmd 0 "$EXTEND12" -o 3
grep -q 'set in swtpm' "$FX_DIR/be5.log" && fx_fail "a refused locality was set in swtpm"
grep -q 'refused a command: locality 3 is not allowed' "$FX_DIR/be5.log" ||
	fx_fail "no log line for the refused locality"
expect_response "locality 0 still served" "$RAND8_OK" cmd 0 "$GETRANDOM8"

# ---- the left-this-host mark: no command reaches swtpm while it stands ----
# A pending mark (the sender sealed, the record has not left whole) of this
# boot does not count; one of an earlier boot may hide a rename lost in a
# crash, and does (leftmark.h).
printf 'generation 7\nboot %s\n' "$(cat /proc/sys/kernel/random/boot_id)" \
	>"$FX_DIR/tpm/vtpm-left.pending"
expect_response "a pending mark of this boot does not stop the TPM" "$RAND8_OK" \
	cmd 0 "$GETRANDOM8"
printf 'generation 7\nboot 00000000-0000-4000-8000-000000000000\n' >"$FX_DIR/tpm/vtpm-left.pending"
expect_response "a pending mark of an earlier boot does" "$REFUSED2" cmd 0 "$GETRANDOM8"
rm -f "$FX_DIR/tpm/vtpm-left.pending"
echo "generation 7" >"$FX_DIR/tpm/vtpm-left"
expect_response "GetRandom while the mark stands gets TPM_RC_FAILURE" "$REFUSED2" \
	cmd 0 "$GETRANDOM8"
expect_response "PCR_Extend while the mark stands gets TPM_RC_FAILURE" "$REFUSED2" \
	cmd 0 "$PCR_EXTEND"
expect_response "a TPM 1.2 command while the mark stands gets TPM_FAIL" "$REFUSED12" \
	cmd 0 "$EXTEND12"
grep -q "refused a command: the vTPM left this host (generation 7, mark in $FX_DIR/tpm)" \
	"$FX_DIR/be5.log" ||
	fx_fail "no log line for the left-this-host mark"
rm -f "$FX_DIR/tpm/vtpm-left"
fx_expect_ok "PCR_Read with the mark gone" front cmd 0 "$PCR_READ16"
[ "${FX_OUT: -64}" = "$want" ] || fx_fail "a command reached swtpm while the mark stood"
expect_response "served again once the mark is gone" "$RAND8_OK" cmd 0 "$GETRANDOM8"
expect_response "an extra page the command does not need" "$RAND8_OK" \
	cmd 0 "$GETRANDOM8" -x 1 -r 5
# swtpm serves one data client at a time: while the guest is connected,
# dom0's tools still reach its TPM between the guest's commands.
fx_expect_ok "dom0 reaches the TPM while the guest is connected" \
	timeout 10 "$FRONT" direct "$DATA" 3 "$GETRANDOM8"

# ---- hostile pages: refused with a TPM error and a log line, never a crash ----
expect_response "length beyond the page" "$REFUSED2" cmd 0 "$GETRANDOM8" -l 0x10000
expect_response "length shorter than a TPM header" "$REFUSED2" cmd 0 "$GETRANDOM8" -l 4
expect_response "nr_extra_pages too big" "$REFUSED2" cmd 0 "$GETRANDOM8" -x 200
expect_response "extra grant refs that do not map" "$REFUSED2" cmd 0 "$GETRANDOM8" -x 2 -r 6,4000
expect_response "locality that does not exist" "$REFUSED2" cmd 0 "$GETRANDOM8" -o 9
fx_expect_ok "nonsense page state" front state 0 77
sleep 0.3
fx_expect_ok "peek" front peek 0
[ "${FX_OUT%% *}" = 77 ] || fx_fail "back end changed a page in a nonsense state: $FX_OUT"
grep -q 'page state 77 is none of' "$FX_DIR/be5.log" || fx_fail "no log line for state 77"
n=$(grep 'refused a command' "$FX_DIR/be5.log" | grep -vc 'is not allowed\|left this host')
[ "$n" -eq 5 ] || fx_fail "expected 5 refusal lines for the hostile pages in the log, got $n"
grep -q 'cannot map grant ref 6 (2 pages)' "$FX_DIR/be5.log" || fx_fail "unmappable refs not logged"
be_alive be5 || fx_fail "back end died on hostile input"
# A cancel while swtpm works goes to swtpm; the command is answered.
fx_expect_ok "cancel during a long command" front cmd 0 "$CREATE_RSA3072" -c 20 -t 60000
grep -q 'guest cancelled the running command; passed to swtpm' "$FX_DIR/be5.log" ||
	fx_fail "cancel not passed to swtpm: $(tail -n 2 "$FX_DIR/be5.log")"
fx_log "answer to the cancelled CreatePrimary: ${FX_OUT:0:20}"
# A cancel on an idle page is answered with idle.
fx_expect_ok "cancel" front state 0 3
fx_expect_ok "cancel answered" front wait 0 3000
fx_expect_ok "peek" front peek 0
[ "${FX_OUT%% *}" = 0 ] || fx_fail "cancel not answered with idle: $FX_OUT"
expect_response "still serving after all that" "$RAND8_OK" cmd 0 "$GETRANDOM8"
grep -q suppressed "$FX_DIR/be5.log" && fx_fail "the log limit cut lines this test reads"

# The log limit would hide what follows: a new back end, a new log. It
# finds the frontend connected and takes its ring.
stop_backend be5
start_backend 5 be5r
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "a new back end did not take the connected ring"
expect_response "GetRandom through the new back end" "$RAND8_OK" cmd 0 "$GETRANDOM8"

# ---- the frontend resumes (save/restore, migration): new ring, new port ----
fx_expect_ok "frontend reinitialises" xenstore-write "$FE5/state" 1
fx_wait_for 5 is_node "$BE5/state" 2 || fx_fail "back end did not go back to InitWait"
fx_expect_ok "frontend's new ring" xenstore-write "$FE5/ring-ref" 3 "$FE5/event-channel" 9 \
	"$FE5/state" 3
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "back end did not reconnect"
expect_response "GetRandom on the new ring" "$RAND8_OK" cmd 3 "$GETRANDOM8"
fx_expect_ok "PCR_Read on the new ring" front cmd 3 "$PCR_READ16"
[ "${FX_OUT: -64}" = "$want" ] || fx_fail "PCR 16 changed across the reconnect"
fx_expect_fail "the old ring is no longer served" front cmd 0 "$GETRANDOM8" -t 500
# A frontend that comes back at Connected with yet another ring (its
# watch fired before the back end saw Initialising) is followed too.
fx_expect_ok "ring changes under Connected" xenstore-write "$FE5/ring-ref" 2 \
	"$FE5/event-channel" 11 "$FE5/state" 4
fx_wait_for 5 grep -q 'ring-ref 2, event channel 11' "$FX_DIR/be5r.log" ||
	fx_fail "back end did not follow the new ring"
expect_response "GetRandom on the third ring" "$RAND8_OK" cmd 2 "$GETRANDOM8"

# ---- a ring that does not map: refused, Closed; a good one later works ----
fx_expect_ok "frontend reinitialises" xenstore-write "$FE5/state" 1
fx_wait_for 5 is_node "$BE5/state" 2 || fx_fail "back end did not go back to InitWait"
fx_expect_ok "a ring ref outside the guest" xenstore-write "$FE5/ring-ref" 99999 \
	"$FE5/event-channel" 12 "$FE5/state" 3
fx_wait_for 5 is_node "$BE5/state" 6 || fx_fail "unmappable ring not refused with Closed"
grep -q 'frontend refused: cannot map grant ref 99999' "$FX_DIR/be5r.log" ||
	fx_fail "unmappable ring not logged"
fx_expect_ok "frontend tries again" xenstore-write "$FE5/state" 1
fx_wait_for 5 is_node "$BE5/state" 2 || fx_fail "back end not in InitWait again"
fx_expect_ok "good ring" xenstore-write "$FE5/ring-ref" 1 "$FE5/event-channel" 13 "$FE5/state" 3
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "back end did not connect to the good ring"
expect_response "GetRandom after a refused ring" "$RAND8_OK" cmd 1 "$GETRANDOM8"
grep -q suppressed "$FX_DIR/be5r.log" && fx_fail "the log limit cut lines this test reads"
stop_backend be5r
start_backend 5 be5c
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "a new back end did not take the connected ring"

# ---- the guest closes its device (module unloaded): Closed, and back ----
fx_expect_ok "frontend closes" xenstore-write "$FE5/state" 6
fx_wait_for 5 is_node "$BE5/state" 6 || fx_fail "back end did not close with the frontend"
fx_expect_fail "a closed ring is not served" front cmd 1 "$GETRANDOM8" -t 500
fx_expect_ok "frontend comes back" xenstore-write "$FE5/state" 1
fx_wait_for 5 is_node "$BE5/state" 2 || fx_fail "back end not in InitWait after the close"
fx_expect_ok "its ring" xenstore-write "$FE5/ring-ref" 4 "$FE5/event-channel" 14 "$FE5/state" 3
fx_wait_for 5 is_node "$BE5/state" 4 || fx_fail "back end did not connect after the close"
expect_response "GetRandom after a close" "$RAND8_OK" cmd 4 "$GETRANDOM8"

# ---- teardown by the toolstack: online=0, state=5 (xend's destroyDevice) ----
be5_pid=$(be_pid be5c)
fx_expect_ok "xend closes the device" xenstore-write "$BE5/online" 0 "$BE5/state" 5
fx_wait_for 5 fx_not fx_pid_is "$be5_pid" vtpm_backend || fx_fail "back end did not end on Closing"
fx_wait_for 5 test -s "$FX_DIR/on-close.log" || fx_fail "the remove action did not run"
[ "$(cat "$FX_DIR/on-close.log")" = "remove $BE5" ] ||
	fx_fail "remove ran as '$(cat "$FX_DIR/on-close.log")'"
is_node "$BE5/state" 6 || fx_fail "back end did not write Closed: $(node "$BE5/state")"
[ -e "$FX_DIR/be5c.pid" ] && fx_fail "pid file left behind"
# swtpm serves one data client: the back end's connection is gone.
fx_expect_ok "swtpm free again" "$FRONT" direct "$DATA" 1 "$GETRANDOM8"

# ---- TPM 1.2, the vTPM's policy allowing localities 0 and 2 ----
toolstack 9
start_backend 9 be9 --data "$DATA12" --localities 0,2
guest_connects 9 0 21
expect_response "TPM 1.2 PCR 16" "$OK12" cmd 0 "$PCRREAD12"
pcr12=${FX_OUT:20:40}
expect_response "TPM_Extend at locality 3 gets TPM_BAD_LOCALITY" "$LOCALITY12" \
	cmd 0 "$EXTEND12" -o 3
expect_response "TPM_Extend at locality 1 (not in 0,2) gets TPM_BAD_LOCALITY" "$LOCALITY12" \
	cmd 0 "$EXTEND12" -o 1
expect_response "TPM 1.2 PCR 16 after them" "$OK12" cmd 0 "$PCRREAD12"
[ "${FX_OUT:20:40}" = "$pcr12" ] || fx_fail "a refused TPM_Extend reached swtpm"
expect_response "TPM_Extend at locality 2, which the policy allows" "$OK12" \
	cmd 0 "$EXTEND12" -o 2
grep -q 'locality 2 set in swtpm' "$FX_DIR/be9.log" || fx_fail "locality 2 not set in swtpm"
pcr12=$(printf '%s%s' "$pcr12" "${EXTEND12: -40}" | xxd -r -p | sha1sum | cut -c1-40)
expect_response "PCR 16 extended, read at locality 0" "$OK12$pcr12" cmd 0 "$PCRREAD12"
grep -q 'locality 0 set in swtpm' "$FX_DIR/be9.log" || fx_fail "locality 0 not set again"
echo "generation 3" >"$FX_DIR/tpm12/vtpm-left"
expect_response "TPM_Extend while the mark stands gets TPM_FAIL" "$REFUSED12" cmd 0 "$EXTEND12"
expect_response "TPM_PCRRead while the mark stands gets TPM_FAIL" "$REFUSED12" cmd 0 "$PCRREAD12"
rm -f "$FX_DIR/tpm12/vtpm-left"
expect_response "PCR 16 unchanged while the mark stood" "$OK12$pcr12" cmd 0 "$PCRREAD12"
stop_backend be9

# ---- a guest that floods: 20,000 commands at changing localities (each a
# log line: the locality set in swtpm, or refused) and 200 front-end state
# flips (four lines each). The log stays at one burst and a few lines. ----
toolstack 8
start_backend 8 be8 --localities 0,1
guest_connects 8 0 31
fx_expect_ok "20,000 commands at localities 0, 1, 3" front flood 0 20000 "$GETRANDOM8" 0,1,3
[ "$FX_OUT" = "20000 13334 6666" ] ||
	fx_fail "flood: '$FX_OUT' answered, expected 13334 served and locality 3's 6666 refused"
for ((i = 0; i < 200; i++)); do
	xenstore-write /local/domain/8/device/vtpm/0/state 1 &&
		fx_wait_for 5 is_node /local/domain/0/backend/vtpm/8/0/state 2 &&
		xenstore-write /local/domain/8/device/vtpm/0/state 3 &&
		fx_wait_for 5 is_node /local/domain/0/backend/vtpm/8/0/state 4 ||
		fx_fail "front-end flip $i not followed"
done
expect_response "still served after the flood" "$RAND8_OK" cmd 0 "$GETRANDOM8"
stop_backend be8
lines=$(grep -c '' "$FX_DIR/be8.log")
bytes=$(stat -c %s "$FX_DIR/be8.log")
[ "$lines" -le 40 ] && [ "$bytes" -le 8192 ] ||
	fx_fail "a guest grew the log to $lines lines, $bytes bytes: $(sort "$FX_DIR/be8.log" | uniq -c | sort -rn | head -n 3)"
dropped=$(sed -n 's/.*: \([0-9]*\) lines about the guest suppressed.*/\1/p' "$FX_DIR/be8.log" |
	awk '{ n += $1 } END { print n + 0 }')
[ "$dropped" -ge 20000 ] || fx_fail "the log says $dropped lines were suppressed, expected 20,000 or more"
fx_log "flood: $lines lines, $bytes bytes in the log, $dropped lines suppressed"

# ---- what a line quotes is escaped: a frontend path with a terminal
# escape and a newline cannot forge a line ----
toolstack 10
fx_expect_ok "hostile frontend path" xenstore-write /local/domain/0/backend/vtpm/10/0/frontend \
	$'/local/domain/10/../1/\e[2J\nvtpm_backend: forged line'
start_backend 10 be10
fx_wait_for 5 grep -q "is not in domain 10's tree" "$FX_DIR/be10.log" ||
	fx_fail "no line about the frontend path"
stop_backend be10
grep -q '\\x1b\[2J\\x0avtpm_backend: forged line' "$FX_DIR/be10.log" ||
	fx_fail "the frontend path is not escaped: $(cat -v "$FX_DIR/be10.log")"
grep -q $'\e' "$FX_DIR/be10.log" && fx_fail "a raw escape byte reached the log"
grep -q '^vtpm_backend: forged' "$FX_DIR/be10.log" && fx_fail "a forged line reached the log"

# ---- a device that never had a frontend: its directory removed ----
: >"$FX_DIR/on-close.log"
fx_expect_ok "toolstack nodes for 6" xenstore-write /local/domain/0/backend/vtpm/6/0/frontend-id 6 \
	/local/domain/0/backend/vtpm/6/0/frontend /local/domain/6/device/vtpm/0 \
	/local/domain/0/backend/vtpm/6/0/online 1
start_backend 6 be6
fx_wait_for 5 is_node /local/domain/0/backend/vtpm/6/0/state 2 || fx_fail "be6 not in InitWait"
be6_pid=$(be_pid be6)
fx_expect_ok "backend directory removed" xenstore-rm /local/domain/0/backend/vtpm/6
fx_wait_for 5 fx_not fx_pid_is "$be6_pid" vtpm_backend || fx_fail "be6 did not end"
fx_wait_for 5 test -s "$FX_DIR/on-close.log" || fx_fail "the remove action did not run for 6"
[ "$(cat "$FX_DIR/on-close.log")" = "remove /local/domain/0/backend/vtpm/6/0" ] ||
	fx_fail "remove for 6 ran as '$(cat "$FX_DIR/on-close.log")'"
node /local/domain/0/backend/vtpm/6/0/state >/dev/null && fx_fail "removed directory written again"

# ---- SIGTERM (the hotplug script's own remove): ends, no remove action ----
: >"$FX_DIR/on-close.log"
toolstack 7
start_backend 7 be7
fx_wait_for 5 is_node /local/domain/0/backend/vtpm/7/0/state 2 || fx_fail "be7 not in InitWait"
kill -TERM "$(be_pid be7)"
fx_wait_for 5 fx_not test -e "$FX_DIR/be7.pid" || fx_fail "be7 did not remove its pid file"
[ -s "$FX_DIR/on-close.log" ] && fx_fail "SIGTERM ran the remove action"
is_node /local/domain/0/backend/vtpm/7/0/state 6 || fx_fail "be7 did not write Closed"

# ---- usage errors ----
"$BACKEND" --data x --pidfile y 2>/dev/null
[ $? -eq 2 ] || fx_fail "missing --backend is not a usage error"
"$BACKEND" --backend relative --data x --pidfile y 2>/dev/null
[ $? -eq 2 ] || fx_fail "relative --backend is not a usage error"
"$BACKEND" --backend "$BE5" --data relative --pidfile y 2>/dev/null
[ $? -eq 2 ] || fx_fail "relative --data is not a usage error"
for bad in 5 0, 0,,1 ''; do
	"$BACKEND" --backend "$BE5" --data "$DATA" --pidfile y --localities "$bad" 2>/dev/null
	[ $? -eq 2 ] || fx_fail "--localities '$bad' is not a usage error"
done
echo "16-backend: ok"
