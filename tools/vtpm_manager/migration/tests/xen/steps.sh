#!/bin/bash
# The check-xen steps, run inside a real Xen 4.17 dom0 by its /init.
#
# One tiny PVH guest gets a vTPM the way xend's device creation gives it one:
# xend's backend and frontend nodes in xenstore, then the project's vTPM
# hotplug script. The vTPM is filled through tpm2-tools; then:
#   1  send --domid while the guest runs: refused, with the reason
#   2  guest paused: send succeeds, the source TPM keeps running unchanged;
#      the left-this-host mark makes recover refuse until --force
#   3  xl save / xl restore: the restored domain's vTPM waits for state,
#      recv --domid loads it and publishes it, the state is identical
#   4  xl migrate to localhost, the vTPM record moved at the point xend moves
#      it (migrate-proxy.pl), same checks
#   5  a tampered and a replayed record are refused, the waiting vTPM stays
#      not running; the genuine record is then accepted (control)
#   6  the guest gets a TPM 1.2 vTPM instead (PCRs through raw TPM 1.2
#      commands, the EK as its identity), across xl save / xl restore
#   7  reboot on a pvops dom0 (no udev remove): the vTPM and its back end
#      stop with the domain; the guest starts again with the same TPM
# send and recv run --staged, driven with the words xend uses.
# The guest itself uses its vTPM through Linux's xen-tpmfront and the
# project's back end (vtpm_backend, started by the hotplug script): it
# writes an NV index and extends PCR 12 through its own /dev/tpmN and, after
# each restore and migration, reads the same values back and extends on;
# with its vTPM refused it has no working TPM (and never a fresh one).
# Each step prints one "@@STEP N name: PASS|FAIL (detail)" line; exit status
# is the number of failed steps.
#
# Also called as "steps.sh migrate-hook ready|done" by migrate-proxy.pl,
# inside `xl migrate`.
# Most functions here run through check(): shellcheck cannot see the calls.
# shellcheck disable=SC2317
set -u
export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C

T=/vtpm-xen                     # these scripts and the guest's boot files
W=/run/vtpm-xen                 # work files
KEYS=$W/keys                    # vtpm_migrate -d DIR
VM=/usr/sbin/vtpm_migrate
TPM12=$T/tpm12_raw              # raw TPM 1.2 commands (tests/tools/tpm12_raw.c)
SCRIPTS=/etc/xen/scripts
RESULTS=$W/results
NV_INDEX=0x01500016
KEY_HANDLE=0x81000016
mkdir -p "$W"

# --- reporting -------------------------------------------------------------

log() { echo "## $*"; }
stamp() { echo "@@T $(cut -d' ' -f1 /proc/uptime) $*"; }

# step ID NAME PASS|FAIL DETAIL
step() {
	echo "@@STEP $1 $2: $3${4:+ ($4)}"
	echo "$1 $3" >> "$RESULTS"
}

# pass/fail bookkeeping for one numbered step made of checks
begin() { cur_id=$1 cur_name=$2 cur_bad=""; stamp "begin $1 $2"; }
check() { # check DESCRIPTION COMMAND... : run COMMAND, note a failure
	local what=$1 t
	shift
	t=$(uptime_cs)
	if "$@"; then
		log "ok: $what ($(elapsed "$t"))"
	else
		log "FAILED: $what ($(elapsed "$t"))"
		cur_bad=${cur_bad:-$what}
	fi
}
uptime_cs() { local u; read -r u _ < /proc/uptime; echo "${u/./}"; }
elapsed() { local d=$(($(uptime_cs) - $1)); printf '%d.%02d s' $((d / 100)) $((d % 100)); }
note_fail() { log "FAILED: $1"; cur_bad=${cur_bad:-$1}; }
end() { # end DETAIL-WHEN-PASSED
	if [ -z "$cur_bad" ]; then
		step "$cur_id" "$cur_name" PASS "$1"
	else
		step "$cur_id" "$cur_name" FAIL "$cur_bad"
	fi
}

# run CMD... : run, keep stdout in $W/out, stderr in $W/err, status in $rc
run() {
	local t
	log "\$ $*"
	t=$(uptime_cs)
	"$@" > "$W/out" 2> "$W/err"
	rc=$?
	[ -s "$W/err" ] && sed 's/^/   stderr: /' "$W/err"
	log "  exit $rc ($(elapsed "$t"))"
	return 0
}
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && [ -n "$(head -c1 "$1")" ]; }

# --- the domain and its vTPM, as xend would set them up ---------------------

domid_of() { xl domid "$1" 2>/dev/null; }
# The domain's UUID as the toolstack holds it (xend passes it the same way;
# /local/domain/D/vm is the guest's to write).
uuid_of() { xl list -v "$1" 2>/dev/null | awk 'NR == 2 { print $7 }'; }
be_path() { echo "/local/domain/0/backend/vtpm/$1/0"; }
fe_path() { echo "/local/domain/$1/device/vtpm/0"; }

# xend's DevController.createDevice for a vtpm (tpmif.py): backend details
# (pref_instance, resume, type, uuid) plus the generic frontend/backend
# links, state Initialising and online, with the frontend domain allowed to
# read its backend.
# The permissions go to every node (-r): the guest must be able to read the
# backend's nodes and write its own frontend nodes, children included, or
# its frontend blocks; nodes written later inherit them.
xend_backend_nodes() { # DOMID RESUME(True|False) VTPM-UUID
	local d=$1 resume=$2 uuid=$3 be name
	be=$(be_path "$d")
	name=$(xenstore-read "/local/domain/$d/name")
	xenstore-write \
		"$be/domain" "$name" "$be/frontend" "$(fe_path "$d")" "$be/frontend-id" "$d" \
		"$be/online" 1 "$be/state" 1 "$be/pref_instance" 0 \
		"$be/resume" "$resume" "$be/type" swtpm "$be/uuid" "$uuid" &&
	xenstore-chmod -r "$be" n0 "r$d"
}
# A running guest probes the device as soon as its state node says
# Initialising: that node comes last, after the permissions (it inherits
# them), or the guest's first write is refused (EACCES) and its probe fails.
xend_frontend_nodes() { # DOMID
	local d=$1 fe
	fe=$(fe_path "$d")
	xenstore-write "$fe/backend" "$(be_path "$d")" "$fe/backend-id" 0 "$fe/handle" 0 &&
	xenstore-chmod -r "$fe" "n$d" r0 &&
	xenstore-write "$fe/state" 1
}
xend_device_nodes() { # DOMID RESUME(True|False) VTPM-UUID
	xend_backend_nodes "$@" && xend_frontend_nodes "$1"
}

# Run the project's vTPM hotplug script (tools/examples/vtpm-swtpm) as
# xend's udev rule ran the vtpm scripts: "SCRIPT add|remove" with
# XENBUS_PATH naming the backend.
HOTPLUG=$SCRIPTS/vtpm-swtpm
hotplug() { # add|remove DOMID
	[ -x "$HOTPLUG" ] || { log "no vTPM hotplug script $HOTPLUG"; return 1; }
	log "hotplug: $HOTPLUG $1 (XENBUS_PATH=backend/vtpm/$2/0)"
	XENBUS_PATH="backend/vtpm/$2/0" "$HOTPLUG" "$1"
}

# xend's device destruction on a pvops dom0 (DevController.destroyDevice):
# online 0, state Closing, and no udev `remove` ever comes (no tpmback
# driver). The vTPM's back end (vtpm_backend) sees Closing and runs the
# hotplug script's remove itself; wait for that (swtpm-ctrl goes), then the
# nodes go. Fails if the instance outlives its device.
xend_device_destroy() { # DOMID
	local be _
	be=$(be_path "$1")
	xenstore-write "$be/online" 0 "$be/state" 5 2> /dev/null
	for _ in $(seq 200); do
		xenstore-read "$be/swtpm-ctrl" > /dev/null 2>&1 || break
		sleep 0.1
	done
	! xenstore-read "$be/swtpm-ctrl" > /dev/null 2>&1 ||
		log "FAILED: the vTPM of domain $1 outlived its device"
	xenstore-rm "$be" 2> /dev/null
	xenstore-rm "$(fe_path "$1")" 2> /dev/null
	return 0
}

# What xend's waitForDevices waits for: a fresh vTPM is connected; a resuming
# one has its control socket published and waits for state.
wait_node() { # PATH [VALUE] : wait up to 20 s for the node (to hold VALUE)
	local _ v
	for _ in $(seq 200); do
		v=$(xenstore-read "$1" 2>/dev/null) &&
			{ [ $# -lt 2 ] || [ "$v" = "$2" ]; } && return 0
		sleep 0.1
	done
	return 1
}

ctrl_of() { xenstore-read "$(be_path "$1")/swtpm-ctrl" 2>/dev/null; }
tcti_for() { echo "swtpm:path=${1%.ctrl}"; }   # data socket beside data.ctrl

# A vTPM for domain D as xend creates one: its nodes, the hotplug script,
# then what xend waits for (connected; for a resuming domain, the control
# socket of the instance that waits for state).
# A restored or incoming domain is paused: all nodes first, as xend does.
# A running guest (a fresh vTPM plugged in) sees its frontend only once the
# vTPM runs, as a booting guest would (xend unpauses it after the devices).
give_vtpm() { # DOMID RESUME VTPM-UUID [later]: "later" leaves the frontend out
	if [ "$2" = True ]; then
		xend_device_nodes "$1" "$2" "$3" || { log "writing the device nodes failed"; return 1; }
	else
		xend_backend_nodes "$1" "$2" "$3" || { log "writing the backend nodes failed"; return 1; }
	fi
	hotplug add "$1" || { log "hotplug add failed"; return 1; }
	if [ "$2" = True ]; then
		wait_node "$(be_path "$1")/swtpm-ctrl"
	else
		wait_node "$(be_path "$1")/hotplug-status" connected || return 1
		[ "${4:-}" = later ] || xend_frontend_nodes "$1"
	fi
}

# --- the guest's own use of its vTPM (guest-init, tpm_guest.c) ---------------

GUEST_NV=67756573746e7631     # "guestnv1", written by the guest into NV 0x01500017
GUEST_EXT=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
GUEST_PCR=                    # PCR 12 as the guest last extended it
guest_lines() { cat /var/log/xen/console/guest-*.log 2>/dev/null | tr -d '\r' | grep -aoE '@@G .*'; }
wait_guest_line() { # ERE SECONDS
	local _
	for _ in $(seq $(($2 * 2))); do
		guest_lines | grep -qE "$1" && return 0
		sleep 0.5
	done
	log "no guest line matching '$1' within $2 s; the guest said:"
	guest_lines | tail -n 5 | sed 's/^/   /'
	return 1
}
pcr_extended() { # HEX : sha256(HEX || GUEST_EXT), the TPM's PCR extend
	perl -e 'print pack("H*", $ARGV[0])' "$1$GUEST_EXT" | sha256sum | cut -c1-64
}
# What the back end and the guest saw, when the guest's TPM does not work.
backend_diag() { # DOMID
	local c
	c=$(ctrl_of "$1")
	log "--- xenstore of domain $1's vTPM device ---"
	xenstore-ls -fp "$(be_path "$1")" 2>&1 | sed 's/^/   /'
	xenstore-ls -fp "$(fe_path "$1")" 2>&1 | sed 's/^/   /'
	log "--- $(dirname "$c")/backend.log ---"
	tail -n 20 "$(dirname "$c")/backend.log" 2>&1 | sed 's/^/   /'
	guest_consoles
}
backend_connected() { # DOMID : the back end reached Connected
	wait_node "$(be_path "$1")/state" 4 && return 0
	backend_diag "$1"
	return 1
}
# The first vTPM: a new NV index, PCR 12 read and extended.
guest_first_use() {
	local first
	wait_guest_line "tpm[0-9]+ nv=new read pcr12=[0-9a-f]{64} nv=$GUEST_NV" 150 || return 1
	first=$(guest_lines | sed -n "s/.* nv=new read pcr12=\([0-9a-f]\{64\}\) nv=$GUEST_NV.*/\1/p" | head -1)
	GUEST_PCR=$(pcr_extended "$first")
	wait_guest_line "tpm[0-9]+ extended pcr12=$GUEST_PCR" 60
}
# After a resume: the same NV data and PCR 12 through the guest's new TPM
# device, and it extends on.
guest_same_tpm() {
	wait_guest_line "tpm[0-9]+ nv=existing read pcr12=$GUEST_PCR nv=$GUEST_NV" 150 || return 1
	GUEST_PCR=$(pcr_extended "$GUEST_PCR")
	wait_guest_line "tpm[0-9]+ extended pcr12=$GUEST_PCR" 60
}
# A guest whose vTPM was refused: it runs, but its TPM never shows the
# migrated state nor a fresh one.
guest_has_no_tpm() { # SECONDS
	sleep "$1"
	guest_ok tiny || { log "guest not running"; return 1; }
	if guest_lines | grep -qE "nv=existing read pcr12=$GUEST_PCR"; then
		log "the guest read the refused vTPM's state"
		return 1
	fi
	[ "$(guest_lines | grep -c 'nv=new')" -eq 1 ] || { log "the guest got a fresh TPM"; return 1; }
	log "the guest says: $(guest_lines | tail -n 1)"
	return 0
}

# --- the TPM ----------------------------------------------------------------

tpm() { # CTRL tpm2_command args...
	local ctrl=$1
	shift
	TPM2TOOLS_TCTI=$(tcti_for "$ctrl") "$@"
}
# Without a resource manager, loaded objects stay in the TPM's three slots.
tpm_flush() { # CTRL
	tpm "$1" tpm2_flushcontext -t > /dev/null 2>&1
	return 0
}

# The control channel says whether the TPM was started (GET_TPMESTABLISHED
# answers 0xa from a TPM that has not been initialised).
tpm_running() { swtpm_ioctl --unix "$1" -e > /dev/null 2>&1; }
swtpm_alive() { # CTRL: the swtpm process behind the socket exists
	local pid
	pid=$(cat "$(dirname "$1")/pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
state_files() { # CTRL : swtpm's state files beside the control socket
	local d f
	d=$(dirname "$1")
	for f in "$d"/tpm-00.* "$d"/tpm2-00.*; do
		[ -e "$f" ] && echo "${f##*/}"
	done
	return 0
}

# Recognisable state: PCRs 16 and 23 extended, an NV index holding a known
# string, a persistent ECC signing key (a primary key under the owner
# hierarchy: it exists only if the owner seed came along).
PCR16=8a3f1b7bcf5b8a7d7b1e7c62a2f95f4c6a8d2e41b0c4f7a9e3d5c1b7a9f0e2d4
PCR23=0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a
fill_tpm() { # CTRL
	local c=$1
	printf 'check-xen NV data: 0123456789abc' > "$W/nv.in"     # 32 bytes
	tpm "$c" tpm2_pcrextend "16:sha256=$PCR16" "23:sha256=$PCR23" &&
	tpm "$c" tpm2_nvdefine "$NV_INDEX" -C o -s 32 -a "ownerread|ownerwrite" > /dev/null &&
	tpm "$c" tpm2_nvwrite "$NV_INDEX" -C o -i "$W/nv.in" &&
	tpm "$c" tpm2_createprimary -Q -C o -g sha256 -G ecc256:ecdsa-sha256 \
		-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" -c "$W/prim.ctx" &&
	tpm "$c" tpm2_evictcontrol -Q -C o -c "$W/prim.ctx" "$KEY_HANDLE" && tpm_flush "$c" &&
	tpm "$c" tpm2_readpublic -Q -c "$KEY_HANDLE" -o "$W/key.src.pub"
}

# What must survive: the PCRs, the NV data, the key's public area and name.
snapshot() { # CTRL DIR
	mkdir -p "$2"
	if tpm "$1" tpm2_pcrread sha256:0,16,23 > "$2/pcrs" 2> "$2/err" &&
		tpm "$1" tpm2_nvread "$NV_INDEX" -C o -s 32 -o "$2/nv" 2> "$2/err" &&
		tpm "$1" tpm2_readpublic -c "$KEY_HANDLE" > "$2/key" 2> "$2/err"; then
		return 0
	fi
	log "reading the TPM failed: $(< "$2/err")"
	return 1
}
show_snapshot() { # DIR : the PCRs, NV data and key name, indented
	local l
	while IFS= read -r l; do echo "   $l"; done < "$1/pcrs"
	echo "   nv $NV_INDEX: $(< "$1/nv")"
	while IFS= read -r l; do [[ $l == name:* ]] && echo "   key $KEY_HANDLE $l"; done < "$1/key"
}

# The private key is the same: a signature made now verifies against the
# public key read from the source TPM when the key was made.
same_key_signs() { # CTRL
	local r
	echo "signed by the migrated key $RANDOM" > "$W/msg"
	tpm "$1" tpm2_sign -c "$KEY_HANDLE" -g sha256 -o "$W/sig" "$W/msg" &&
	tpm "$1" tpm2_loadexternal -Q -C n -u "$W/key.src.pub" -c "$W/ext.ctx" &&
	tpm "$1" tpm2_verifysignature -c "$W/ext.ctx" -g sha256 -m "$W/msg" -s "$W/sig"
	r=$?
	tpm_flush "$1"
	return "$r"
}

same_snapshot() { # CTRL : PCRs, NV and key as before any migration
	rm -rf "$W/after"
	snapshot "$1" "$W/after" || return 1
	diff -r -x err "$W/before" "$W/after" | sed 's/^/   /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

same_state() { # CTRL : the same snapshot, and the same private key
	same_snapshot "$1" && same_key_signs "$1"
}

# A vTPM that waits for state: the control socket exists, the swtpm answers
# but the TPM is not running, it has no state files (so it is not a fresh
# TPM), and neither the instance nor hotplug-status=connected is published.
waiting() { # DOMID
	local be c
	be=$(be_path "$1")
	c=$(ctrl_of "$1") || { log "no swtpm-ctrl node"; return 1; }
	swtpm_alive "$c" || { log "no swtpm behind $c"; return 1; }
	tpm_running "$c" && { log "TPM already running"; return 1; }
	[ -z "$(state_files "$c")" ] || { log "state files present: $(state_files "$c" | tr '\n' ' ')"; return 1; }
	xenstore-read "$be/instance" > /dev/null 2>&1 && { log "instance node published"; return 1; }
	[ "$(xenstore-read "$be/hotplug-status" 2>/dev/null)" != connected ] ||
		{ log "hotplug-status connected"; return 1; }
	return 0
}

# After a refused recv: nothing usable. The TPM is not running (or its swtpm
# is gone) and nothing was published.
not_running() { # DOMID
	local be c
	be=$(be_path "$1")
	c=$(ctrl_of "$1")
	if [ -n "$c" ] && swtpm_alive "$c" && tpm_running "$c"; then
		log "TPM of domain $1 is running"
		return 1
	fi
	xenstore-read "$be/instance" > /dev/null 2>&1 && { log "instance node published"; return 1; }
	[ "$(xenstore-read "$be/hotplug-status" 2>/dev/null)" != connected ] ||
		{ log "hotplug-status connected"; return 1; }
	return 0
}

published() { # DOMID
	local be
	be=$(be_path "$1")
	xenstore-read "$be/instance" > /dev/null 2>&1 &&
	[ "$(xenstore-read "$be/hotplug-status" 2>/dev/null)" = connected ] &&
	tpm_running "$(ctrl_of "$1")"
}

gone() { # CTRL : the old instance is shut down and its state deleted
	! swtpm_alive "$1" && [ -z "$(state_files "$1")" ]
}

# The guest kernel is up far enough to be saved or migrated once its
# xenbus shutdown watcher advertises control/feature-suspend.
wait_guest_up() { # DOMID : up to 120 s; fails at once if the domain goes
	local _
	for _ in $(seq 240); do
		[ "$(xenstore-read "/local/domain/$1/control/feature-suspend" 2> /dev/null)" = 1 ] &&
			return 0
		xenstore-exists "/local/domain/$1" 2> /dev/null || return 1
		sleep 0.5
	done
	return 1
}

# Start the tiny guest. A PVH Linux guest calibrates its CPU clock against a
# PIT it does not have: some 100000 port reads, each a VM exit that QEMU
# emulates. With dom0 sharing its CPU, that sometimes ended in a triple fault
# (Xen: "Triple fault - invoking HVM shutdown action") before the guest did
# anything; dom0 on CPU 0 and the guest on CPU 1 made it go away in the runs
# measured. Should it happen, the domain is destroyed (on_reboot) and
# created again.
start_guest() { # sets A
	local try
	for try in 1 2 3; do
		run xl create -q "$W/tiny.cfg"
		[ "$rc" -eq 0 ] || return 1
		A=$(domid_of tiny)
		if wait_guest_up "$A"; then
			log "guest tiny (domain $A) is up"
			return 0
		fi
		log "guest tiny (domain $A) died while booting (try $try of 3)"
		xl destroy tiny > /dev/null 2>&1
	done
	return 1
}

guest_consoles() {
	local f
	for f in /var/log/xen/console/guest-*.log; do
		[ -f "$f" ] || continue
		log "--- $f (last lines) ---"
		tail -n 25 "$f" | tr -d '\r' | sed 's/^/   /'
	done
}

dom_state() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'; }
guest_ok() { # NAME : exists, not crashed
	local s
	s=$(dom_state "$1")
	[ -n "$s" ] && case $s in *c*|*d*) false ;; *) true ;; esac
}

# xl restore -p SAVE (domain A saved it), the vTPM device as xend creates it
# for a restored domain, recv RECORD: the vTPM waited for state and now runs
# it, published. Sets NEWDOM.
restore_with_vtpm() { # SAVE VTPM-UUID RECORD
	run xl restore -p "$1"
	check "xl restore -p" test "$rc" -eq 0
	NEWDOM=$(domid_of tiny)
	check "new domain id ($A -> $NEWDOM)" test -n "$NEWDOM" -a "$NEWDOM" != "$A"
	check "device creation for the restored domain (resume=True)" give_vtpm "$NEWDOM" True "$2"
	check "restored vTPM waits for state, never fresh" waiting "$NEWDOM"
	check "recv --domid $NEWDOM" recv_rec "$NEWDOM" "$3"
	check "instance published in xenstore, TPM running" published "$NEWDOM"
}

# staged in|out FILE CMD... : vtpm_migrate CMD --staged with the record on
# fd 3, driven as xend drives it: ready, then pull/sealed and write/done
# (send) or go/done (recv); sets rc, output in $W/out and $W/err.
staged() {
	local way=$1 file=$2 word reply want bad=""
	shift 2
	log "\$ $VM $* --staged --fd 3 (words: $way)"
	if [ "$way" = out ]; then
		coproc ST { "$VM" "$@" --staged --fd 3 3>"$file" 2>"$W/err"; }
	else
		coproc ST { "$VM" "$@" --staged --fd 3 3<"$file" 2>"$W/err"; }
	fi
	local pid=$ST_PID rd=${ST[0]} wr=${ST[1]}
	read -r reply <&"$rd" || reply=
	[ "$reply" = ready ] || bad="no ready ($reply)"
	for word in $([ "$way" = out ] && echo pull write || echo go); do
		[ -z "$bad" ] || break
		want='done'
		[ "$word" = pull ] && want=sealed
		echo "$word" >&"$wr"
		read -r reply <&"$rd" || reply=
		[ "$reply" = "$want" ] || bad="no $want after $word ($reply)"
	done
	exec {wr}>&-
	wait "$pid"
	rc=$?
	[ -s "$W/err" ] && sed 's/^/   stderr: /' "$W/err"
	log "  exit $rc${bad:+ ($bad)}"
	[ -z "$bad" ] && [ "$rc" -eq 0 ]
}

send_rec() { # DOMID OUT : vtpm_migrate send --staged to this host
	staged out "$2" send -d "$KEYS" --to self --domid "$1" --domain-uuid "$(uuid_of "$1")" &&
		[ -s "$2" ]
}
recv_rec() { # DOMID IN : vtpm_migrate recv --staged
	staged in "$2" recv -d "$KEYS" --domid "$1" --domain-uuid "$(uuid_of "$1")"
}

# --- the migrate hook (inside xl migrate, called by migrate-proxy.pl) -----------

migrate_hook() { # ready|done ; reads $W/migrate.env
	# shellcheck disable=SC1091
	. "$W/migrate.env"      # OLD, VUUID
	local new
	case $1 in
	ready)
		# The image is complete, the source domain is suspended, the
		# incoming domain exists paused: xend's place for the vTPM.
		begin 4.1 migrate-vtpm-moved
		new=$(domid_of tiny--incoming)
		[ -n "$new" ] || { note_fail "no tiny--incoming domain"; end ""; return 1; }
		echo "NEW=$new" >> "$W/migrate.env"
		log "source domain $OLD state '$(xl list | awk -v d="$OLD" '$2 == d { print $5 }')', incoming domain $new"
		check "device creation for the incoming domain (resume=True)" give_vtpm "$new" True "$VUUID"
		check "incoming vTPM waits for state, never fresh" waiting "$new"
		check "send --domid $OLD (source suspended by xl migrate)" send_rec "$OLD" "$W/migrate.vtpm"
		check "recv --domid $new" recv_rec "$new" "$W/migrate.vtpm"
		check "instance published in xenstore, TPM running" published "$new"
		end "old domain $OLD suspended, new domain $new: record $(stat -c %s "$W/migrate.vtpm") bytes"
		[ -z "$cur_bad" ]
		;;
	done)
		# The target reported a successful unpause; xl destroys the source
		# next: xend's teardown of the source vTPM.
		begin 4.2 migrate-finish-old
		local c
		c=$(ctrl_of "$OLD")
		run "$VM" finish --domid "$OLD"
		check "finish --domid $OLD exit 0" test "$rc" -eq 0
		check "old instance shut down and its state deleted" gone "$c"
		end "source domain $OLD destroyed next by xl"
		return 0
		;;
	esac
}

if [ "${1:-}" = migrate-hook ]; then
	migrate_hook "$2"
	exit $?
fi

# --- the steps ---------------------------------------------------------------------

: > "$RESULTS"
mkdir -p /etc/xen /var/lib/xen/vtpm
# dom0 has a fixed allocation; ballooning it under emulation only costs time.
echo 'autoballoon="off"' > /etc/xen/xl.conf

# 0: the dom0, the binary that runs in it, the guest and its fresh vTPM
begin 0 dom0-ready
sum=$(sha256sum "$VM" 2>/dev/null | cut -c1-64)
echo "@@BIN vtpm_migrate sha256=$sum"
echo "@@BIN vtpm_backend sha256=$(sha256sum /usr/sbin/vtpm_backend 2>/dev/null | cut -c1-64)"
missing=$(ldd "$VM" 2>&1 | grep 'not found')
check "vtpm_migrate present and linked${missing:+ ($missing)}" test -n "$sum" -a -z "$missing"
check "xl info" sh -c 'xl info > /dev/null'
hv=$(xl info 2>/dev/null | awk -F': ' '/^xen_version/ { print $2 }')
run "$VM" keygen -d "$KEYS" -n check-xen-dom0
check "keygen" test "$rc" -eq 0
end "Xen $hv, vtpm_migrate sha256 ${sum:0:16}..."

begin 0.1 guest-with-vtpm
cat > "$W/tiny.cfg" <<EOF
name = "tiny"
type = "pvh"
kernel = "$T/vmlinuz"
ramdisk = "$T/guest.cpio.gz"
cmdline = "console=hvc0 rdinit=/init"
memory = 128
vcpus = 1
cpus = "1"
on_crash = "destroy"
on_reboot = "destroy"
EOF
check "xl create (PVH), guest boots" start_guest
VUUID=$(cat /proc/sys/kernel/random/uuid)
log "guest tiny is domain $A, $(xenstore-read "/local/domain/$A/vm" 2>/dev/null); vTPM uuid $VUUID"
check "device creation as xend does it, then the hotplug script" give_vtpm "$A" False "$VUUID" later
CA=$(ctrl_of "$A")
check "fresh vTPM running" tpm_running "$CA"
check "fill the vTPM through tpm2-tools" fill_tpm "$CA"
check "read its state" snapshot "$CA" "$W/before"
show_snapshot "$W/before"
check "the guest's frontend appears" xend_frontend_nodes "$A"
check "back end connected to the guest (state 4)" backend_connected "$A"
check "the guest's own TPM: NV written, PCR 12 extended through /dev/tpmN" guest_first_use
[ -z "$cur_bad" ] || backend_diag "$A"
end "domain $A, vTPM $VUUID, control socket $CA"
if [ -n "$cur_bad" ]; then
	log "no guest with a vTPM: the other steps cannot run"
	xl list
	guest_consoles
	exit 1
fi

# 1: a running guest's vTPM is never taken
begin 1 send-while-running
check "guest runs" sh -c "xl list $A | awk 'NR == 2 { exit \$5 ~ /p/ }'"
run "$VM" send -d "$KEYS" --to self --domid "$A" --domain-uuid "$(uuid_of "$A")"
reason=$(head -1 "$W/err")
check "send refused with exit 1" test "$rc" -eq 1
check "the reason names the running domain" grep -q "running" "$W/err"
check "exactly one line on stderr" one_line "$W/err"
check "no record written" test ! -s "$W/out"
check "source TPM still running" tpm_running "$CA"
end "refused: $reason"

# 2: paused, it is
begin 2 send-while-paused
run xl pause "$A"
check "xl pause" test "$rc" -eq 0
check "send succeeds" send_rec "$A" "$W/paused.vtpm"
run "$VM" inspect < "$W/paused.vtpm"
cp "$W/out" "$W/paused.inspect"
sed 's/^/   /' "$W/out"
check "inspect reads the record" test "$rc" -eq 0
check "source TPM still running, state unchanged" same_snapshot "$CA"
# The record left whole: until the administrator (or xend, on the
# destination's refusal) says otherwise, the vTPM may run elsewhere.
check "left-this-host mark written" test -s "$(dirname "$CA")/vtpm-left"
run "$VM" recover --domid "$A"
refused_naming_force() { [ "$rc" -eq 1 ] && grep -q -- --force "$W/err"; }
check "recover refuses while the mark stands, naming --force" refused_naming_force
run "$VM" recover --force --domid "$A"
check "recover --force: the vTPM goes on" test "$rc" -eq 0
check "source TPM running with its state" same_snapshot "$CA"
run xl unpause "$A"
check "xl unpause" test "$rc" -eq 0
end "record $(stat -c %s "$W/paused.vtpm") bytes, generation $(awk '$1 == "generation" { print $2 }' "$W/paused.inspect")"

# 3: xl save / xl restore, the record alongside the save file
begin 3.1 save-vtpm-sent
run xl save -p tiny "$W/tiny.save"
check "xl save -p (guest suspended, left paused)" test "$rc" -eq 0
check "send --domid $A after the save" send_rec "$A" "$W/tiny.save.vtpm"
# xend tears the saved domain's devices down: the vTPM is finished (its only
# copy is now the record), then the domain goes.
run "$VM" finish --domid "$A"
check "finish --domid $A" test "$rc" -eq 0
check "old instance shut down and its state deleted" gone "$CA"
run xl destroy "$A"
xend_device_destroy "$A"
end "save file $(stat -c %s "$W/tiny.save") bytes, vTPM record $(stat -c %s "$W/tiny.save.vtpm") bytes"

begin 3.2 restore-vtpm-loaded
restore_with_vtpm "$W/tiny.save" "$VUUID" "$W/tiny.save.vtpm"
B=$NEWDOM
CB=$(ctrl_of "$B")
check "PCRs, NV data and key identical" same_state "$CB"
run xl unpause "$B"
check "restored guest unpaused" test "$rc" -eq 0
sleep 1
check "restored guest alive" guest_ok tiny
check "the guest reads the same NV and PCR 12 through its TPM and extends on" guest_same_tpm
end "domain $A -> $B, instance $(xenstore-read "$(be_path "$B")/instance" 2>/dev/null)"

# 4: xl migrate to localhost; migrate-proxy.pl runs "steps.sh migrate-hook"
# when the image is in (ready) and when the target has unpaused (done).
begin 4.3 migrate-state-identical
printf 'OLD=%s\nVUUID=%s\n' "$B" "$VUUID" > "$W/migrate.env"
log "\$ xl migrate -s \"\" tiny \"exec perl $T/migrate-proxy.pl /bin/bash $T/steps.sh migrate-hook\""
xl migrate -s "" tiny "exec perl $T/migrate-proxy.pl /bin/bash $T/steps.sh migrate-hook"
rc=$?
log "  exit $rc"
check "xl migrate" test "$rc" -eq 0
# shellcheck disable=SC1091
. "$W/migrate.env"
C=$(domid_of tiny)
check "migrated domain is the incoming one ($B -> ${NEW:-?})" test -n "$C" -a "$C" = "${NEW:-x}"
CC=$(ctrl_of "$C")
check "PCRs, NV data and key identical" same_state "$CC"
sleep 1
check "migrated guest alive" guest_ok tiny
check "the guest reads the same NV and PCR 12 through its TPM and extends on" guest_same_tpm
xend_device_destroy "$B"
end "domain $B -> $C"

# 5: tampered and replayed records are refused, the waiting vTPM stays down
begin 5.1 tampered-refused
run xl pause "$C"
check "send --domid $C (paused)" send_rec "$C" "$W/fresh.vtpm"
run xl destroy "$C"      # its vTPM keeps running, untouched
# Flip one bit in the middle of the sealed part.
size=$(stat -c %s "$W/fresh.vtpm")
perl -e 'local $/; my $d = <STDIN>; my $i = int(length($d) * 3 / 4);
	substr($d, $i, 1) = chr(ord(substr($d, $i, 1)) ^ 0x01); print $d' \
	< "$W/fresh.vtpm" > "$W/tampered.vtpm"
check "one byte changed" sh -c "test \$(cmp -l $W/fresh.vtpm $W/tampered.vtpm | wc -l) -eq 1"
# The same save file again: a new domain with the same UUIDs waiting for state.
run xl restore -p "$W/tiny.save"
check "xl restore -p of the save file again" test "$rc" -eq 0
R=$(domid_of tiny)
check "device creation (resume=True)" give_vtpm "$R" True "$VUUID"
check "vTPM waits for state" waiting "$R"
recv_rec "$R" "$W/tampered.vtpm"
reason=$(head -1 "$W/err")
check "tampered record refused with exit 1" test "$rc" -eq 1
check "exactly one line on stderr" one_line "$W/err"
check "waiting vTPM not running, nothing published" not_running "$R"
end "$size-byte record, bit flipped at offset $((size * 3 / 4)): $reason"

begin 5.2 replayed-refused
CR=$(ctrl_of "$R")
if ! swtpm_alive "$CR"; then
	log "the refused recv stopped the swtpm; recreate the waiting vTPM"
	xend_device_destroy "$R"
	check "device creation (resume=True)" give_vtpm "$R" True "$VUUID"
fi
recv_rec "$R" "$W/tiny.save.vtpm"
reason=$(head -1 "$W/err")
check "replayed record (step 3, already loaded once) refused with exit 1" test "$rc" -eq 1
check "exactly one line on stderr" one_line "$W/err"
check "waiting vTPM not running, nothing published" not_running "$R"
run xl unpause "$R"
check "guest of the refused vTPM unpaused" test "$rc" -eq 0
check "it runs without a working TPM (neither the refused state nor a fresh one)" guest_has_no_tpm 30
end "refused: $reason"

begin 5.3 genuine-accepted
CR=$(ctrl_of "$R")
if ! swtpm_alive "$CR"; then
	xend_device_destroy "$R"
	check "device creation (resume=True)" give_vtpm "$R" True "$VUUID"
fi
check "the untampered record of step 5.1 is accepted" recv_rec "$R" "$W/fresh.vtpm"
check "PCRs, NV data and key identical" same_state "$(ctrl_of "$R")"
check "the waiting guest now reads its migrated NV and PCR 12 and extends on" guest_same_tpm
end "the refusals were the tamper and the replay, nothing else"

# 6: a TPM 1.2 vTPM (the hotplug script with VTPM_TPM_VERSION=1.2) across
# xl save / xl restore; its content through raw TPM 1.2 commands.
# tpm12_setting on|off: the hotplug script's settings file (its only source
# of settings) says VTPM_TPM_VERSION=1.2, or there is none (the defaults).
tpm12_setting() {
	if [ "$1" = on ]; then
		echo VTPM_TPM_VERSION=1.2 > /etc/xen/vtpm-swtpm.conf
	else
		rm -f /etc/xen/vtpm-swtpm.conf
	fi
}
pubek() { # CTRL : TPM_ReadPubek (fixed nonce), the reply in hex: the TPM's identity
	"$TPM12" "${1%.ctrl}" raw 00c10000001e0000007c0000000000000000000000000000000000000000 2>/dev/null
}
tpm12_snapshot() { # CTRL OUT : PCRs 0, 16, 23 and the EK
	{ for p in 0 16 23; do echo "pcr $p $("$TPM12" "${1%.ctrl}" read "$p")" || return 1; done
	  echo "ek $(pubek "$1")"; } > "$2" 2> "$W/err" && [ "$(grep -c '[0-9a-f]\{40\}' "$2")" -eq 4 ]
}
is_tpm12() { # CTRL : swtpm's TPM 1.2 state file, none of a TPM 2.0
	state_files "$1" > "$W/files"
	grep -qx tpm-00.permall "$W/files" && ! grep -q '^tpm2-' "$W/files"
}
tpm12_same() { # CTRL
	tpm12_snapshot "$1" "$W/tpm12.after" || return 1
	diff "$W/tpm12.before" "$W/tpm12.after" | sed 's/^/   /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

# The guest of step 5 (no second boot under emulation: ~25 s) trades its
# TPM 2.0 vTPM device for a new TPM 1.2 one.
begin 6.1 tpm12-guest-and-save
A=$R
check "guest of step 5 (domain $A) still there" guest_ok tiny
xend_device_destroy "$A"
# Unpaused in step 5.2; it must run to answer xl save's suspend request.
case $(dom_state tiny) in
*p*)
	run xl unpause "$A"
	check "xl unpause $A" test "$rc" -eq 0
	;;
esac
sleep 1
check "guest alive" guest_ok tiny
tpm12_setting on
V12=$(cat /proc/sys/kernel/random/uuid)
check "device creation, hotplug script with VTPM_TPM_VERSION=1.2" give_vtpm "$A" False "$V12"
C12=$(ctrl_of "$A")
check "a provisioned TPM 1.2 (tpm-00.permall, no TPM 2.0 state)" is_tpm12 "$C12"
check "PCR 16 extended" "$TPM12" "${C12%.ctrl}" extend 16 1111111111111111111111111111111111111111
check "PCR 23 extended" "$TPM12" "${C12%.ctrl}" extend 23 2323232323232323232323232323232323232323
check "read its state" tpm12_snapshot "$C12" "$W/tpm12.before"
sed 's/^/   /; s/^\(   ek .\{40\}\).*/\1.../' "$W/tpm12.before"
run xl save -p tiny "$W/tiny12.save"
check "xl save -p" test "$rc" -eq 0
check "send --domid $A after the save" send_rec "$A" "$W/tiny12.vtpm"
run "$VM" inspect < "$W/tiny12.vtpm"
check "the record's header says TPM 1.2 (tpm-version 1)" grep -qE '^tpm-version +1$' "$W/out"
run "$VM" finish --domid "$A"
check "finish --domid $A" test "$rc" -eq 0
check "old instance shut down and its state deleted" gone "$C12"
run xl destroy "$A"
xend_device_destroy "$A"
end "domain $A, TPM 1.2 vTPM $V12, record $(stat -c %s "$W/tiny12.vtpm") bytes"

begin 6.2 tpm12-restore
restore_with_vtpm "$W/tiny12.save" "$V12" "$W/tiny12.vtpm"
B12=$NEWDOM
check "PCRs and EK identical" tpm12_same "$(ctrl_of "$B12")"
run xl unpause "$B12"
check "restored guest unpaused" test "$rc" -eq 0
sleep 1
check "restored guest alive" guest_ok tiny
end "domain $A -> $B12, PCRs 0/16/23 and EK identical"
tpm12_setting off

# 7: xm reboot of a vTPM guest on a pvops dom0 (no udev remove): the domain
# and its device go, the vTPM stops with them; the guest starts again with
# the same vTPM, found by its state.
begin 7 reboot-and-lifetime
C12=$(ctrl_of "$B12")
ek_kept() { pubek "$1" > "$W/ek.before" && [ -s "$W/ek.before" ]; }
ek_same() { pubek "$1" | cmp -s - "$W/ek.before"; }
not() { ! "$@"; }
check "EK before the reboot" ek_kept "$C12"
xl destroy "$B12"
xend_device_destroy "$B12"
check "no swtpm outlives its domain" not swtpm_alive "$C12"
check "its back end is gone too" not pgrep -f "vtpm_backend --backend $(be_path "$B12")"
if start_guest; then
	tpm12_setting on
	check "rebooted guest gets its vTPM (domain $A)" give_vtpm "$A" False "$V12"
	tpm12_setting off
	check "the same state directory" test "$(dirname "$(ctrl_of "$A")")" = "$(dirname "$C12")"
	check "the same TPM (EK)" ek_same "$(ctrl_of "$A")"
	xl destroy "$A"
	xend_device_destroy "$A"
else
	note_fail "guest did not boot again"
fi
# Earlier steps destroyed domains with xl alone; xend tears down the devices
# of every domain it destroys, as xend_device_destroy does here.
for d in $(xenstore-list /local/domain/0/backend/vtpm 2>/dev/null); do
	xl list "$d" > /dev/null 2>&1 || xend_device_destroy "$d"
done
for p in $(pgrep -x swtpm); do log "still running: $(tr '\0' ' ' < "/proc/$p/cmdline")"; done
check "no swtpm left once every vTPM domain is gone" not pgrep -x swtpm
check "no vtpm_backend left" not pgrep -x vtpm_backend
end "domain $B12 destroyed and rebooted as $A, EK identical, nothing left running"

# Tidy up (the machine powers off next).
for d in $(xl list | awk 'NR > 2 { print $2 }'); do xl destroy "$d"; done
stamp "steps done"

# Aggregate: steps 3, 4 and 5 pass when all their parts passed.
agg() { # ID NAME PARTS...
	local id=$1 name=$2 bad=""
	shift 2
	for p in "$@"; do
		grep -q "^$p PASS" "$RESULTS" || bad="$bad $p"
	done
	if [ -z "$bad" ]; then step "$id" "$name" PASS "$*"; else step "$id" "$name" FAIL "failed:$bad"; fi
}
agg 3 save-restore 3.1 3.2
agg 4 migrate-localhost 4.1 4.2 4.3
agg 5 tampered-and-replayed 5.1 5.2 5.3
agg 6 tpm12-save-restore 6.1 6.2
nfail=$(grep -c ' FAIL$' "$RESULTS")
[ "$nfail" -eq 0 ] || guest_consoles
exit "$nfail"
