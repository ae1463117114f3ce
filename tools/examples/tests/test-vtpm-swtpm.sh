#!/bin/bash
# Functional test of the vtpm-swtpm hotplug script against the real
# xenstored (under the preload shim), real swtpm and, for the migration
# cases, the real vtpm_migrate in Xen mode (--domid). Ends with the line
# "vtpm-swtpm: N passed, N failed".
#
# The script runs as installed, unchanged: a copy in a private scripts
# folder beside a hotplugpath.sh (what a Xen build generates there) whose
# XEN_CONFIG_DIR is a private folder holding the settings file
# (private-install.sh).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURES=$HERE/../../vtpm_manager/migration/tests/lib/fixtures.sh
# shellcheck source-path=SCRIPTDIR source=../../vtpm_manager/migration/tests/lib/fixtures.sh
. "$FIXTURES"
fx_init
VM=$(fx_bin vtpm_migrate) || exit 1
TPM12=$(fx_bin tools/tpm12_raw) || exit 1
DOMSTATE_SHIM=$(fx_domstate_env) || exit 1
BACKEND=$(fx_bin vtpm_backend) || exit 1

ETC=$FX_DIR/xen         # the install's /etc/xen
SCRIPTS=$ETC/scripts    # and its scripts folder
SCRIPT=$SCRIPTS/vtpm-swtpm
STATE_ROOT=$FX_DIR/state
RUN_ROOT=$FX_DIR/run
# settings [KEY=VALUE...]: the private install with this test's settings,
# plus these lines.
settings() {
	"$HERE/private-install.sh" "$ETC" "VTPM_STATE_ROOT=$STATE_ROOT" "VTPM_RUN_ROOT=$RUN_ROOT" \
		VTPM_EK_CERTS=no "VTPM_BACKEND=$BACKEND" "$@" || fx_fail "private install in $ETC"
}
# install_paths LINE...: the install's hotplugpath.sh says this instead.
install_paths() {
	printf '%s\n' "$@" >"$SCRIPTS/hotplugpath.sh"
}
UUID=4d1c7a2e-9b3f-4e21-8c5d-6f7a8b9c0d1e
DOM_UUID=0a0b0c0d-1111-2222-3333-444455556666

PASSED=0
FAILED=0
CASE=

ok() { :; }
bad() {
	echo "FAIL: $CASE: $*" >&2
	CASE_FAILED=1
}
# expect DESCRIPTION CMD...: CMD must succeed.
expect() {
	local what=$1
	shift
	"$@" >/dev/null 2>&1 || bad "$what"
}
# expect_not DESCRIPTION CMD...: CMD must fail.
expect_not() {
	local what=$1
	shift
	! "$@" >/dev/null 2>&1 || bad "$what"
}
run_case() {
	CASE=$1
	CASE_FAILED=0
	settings
	"$1"
	if [ "$CASE_FAILED" = 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok: $1"
	else
		FAILED=$((FAILED + 1))
	fi
	cleanup_instances
}

# ---- helpers -----------------------------------------------------------------

be() { printf '/local/domain/0/backend/vtpm/%s/0' "$1"; }

# backend DOMID RESUME [UUID]: the nodes xend writes for a vTPM device.
backend() {
	local b
	b=$(be "$1")
	xenstore-write "$b/uuid" "${3:-$UUID}" "$b/resume" "$2" \
		"$b/frontend-id" "$1" "/local/domain/$1/vm" "/vm/$DOM_UUID"
}

hotplug() { # hotplug add|remove DOMID
	XENBUS_PATH="backend/vtpm/$2/0" "$SCRIPT" "$1"
}

node() { xenstore-read "$(be "$1")/$2" 2>/dev/null; }
node_is() { [ "$(node "$1" "$2")" = "$3" ]; } # node_is DOMID NODE VALUE
instdir() { readlink "$RUN_ROOT/$1.0"; }

tpm() { # tpm DIR tpm2_tool ARGS...: a tpm2 tool on that instance
	local dir=$1
	shift
	TPM2TOOLS_TCTI="swtpm:path=$dir/data" "$@"
}

# pubek DIR: TPM_ReadPubek (fixed nonce) on a TPM 1.2 instance, the reply in
# hex; the same EK means the same TPM.
pubek() {
	"$TPM12" "$1/data" raw 00c10000001e0000007c0000000000000000000000000000000000000000 2>/dev/null
}

# xen_vm ARGS...: vtpm_migrate in Xen mode; libxenctrl (the stand-in) says
# domain 5, the source, is suspended and 6, the destination, paused.
xen_vm() {
	VTPM_TEST_DOMSTATE=5:suspended,6:paused LD_PRELOAD=$DOMSTATE_SHIM "$VM" "$@"
}

# send_5_recv_6 KEYS: domain 5's vTPM sealed to this host, received for 6.
send_5_recv_6() {
	xen_vm send -d "$1" --to self --domid 5 --domain-uuid "$DOM_UUID" >"$FX_DIR/rec" 2>"$FX_DIR/err" ||
		bad "send: $(cat "$FX_DIR/err")"
	xen_vm recv -d "$1" --domid 6 --domain-uuid "$DOM_UUID" <"$FX_DIR/rec" 2>"$FX_DIR/err" ||
		bad "recv: $(cat "$FX_DIR/err")"
}

pid_alive() { # pid_alive DIR: swtpm runs on DIR
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "dir=$1 "
}

# backend_alive DIR: the back end started for DIR runs.
backend_alive() {
	local pid
	pid=$(cat "$1/backend.pid" 2>/dev/null) || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--pidfile $1/backend.pid "
}

# backend_runs DIR TEXT: the back end started for DIR runs with TEXT in
# its command line.
backend_runs() {
	backend_alive "$1" &&
		tr '\0' ' ' <"/proc/$(cat "$1/backend.pid")/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# hotplug_error DOMID: what the script told xend.
hotplug_error() { xenstore-read "$(be "$1")/hotplug-error" 2>/dev/null; }

cleanup_instances() {
	local d
	# back ends first: they would run the remove action when the nodes go
	for d in "$STATE_ROOT"/*/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		backend_alive "$d" && kill "$(cat "$d/backend.pid")" 2>/dev/null
		fx_wait_for 5 fx_not backend_alive "$d"
		pid_alive "$d" && kill "$(cat "$d/pid")" 2>/dev/null
	done
	sleep 0.1
	rm -rf "$STATE_ROOT" "$RUN_ROOT" "$ETC/vtpm-swtpm.d"
	xenstore-rm /local/domain/0/backend/vtpm >/dev/null 2>&1
}

# ---- cases --------------------------------------------------------------------

new_vtpm_is_provisioned_running_and_published() {
	local d
	backend 5 False
	expect "add succeeds" hotplug add 5
	d=$(instdir 5)
	expect "state dir under the vTPM's UUID" test "$(dirname "$d")" = "$STATE_ROOT/$UUID"
	expect "provisioned" test -e "$d/tpm2-00.permall"
	expect "swtpm runs" pid_alive "$d"
	expect "TPM answers" tpm "$d" tpm2_pcrread sha256:0
	expect "EK present" tpm "$d" tpm2_readpublic -c 0x81010001
	expect "swtpm-ctrl node" test "$(node 5 swtpm-ctrl)" = "$d/data.ctrl"
	expect "instance node" test "$(node 5 instance)" = 0
	expect "hotplug-status connected" test "$(node 5 hotplug-status)" = connected
	expect "state private" test "$(stat -c %a "$d")" = 700
}

remove_stops_and_keeps_state_restart_is_same_tpm() {
	local d ek1 ek2
	backend 5 False
	hotplug add 5 || bad "add"
	d=$(instdir 5)
	ek1=$(tpm "$d" tpm2_readpublic -c 0x81010001 2>/dev/null | grep '^name:')
	tpm "$d" tpm2_nvdefine 0x1500017 -C o -s 8 -a 'ownerread|ownerwrite' >/dev/null 2>&1
	printf 'kept-nv!' >"$FX_DIR/nv.bin"
	tpm "$d" tpm2_nvwrite 0x1500017 -C o -i "$FX_DIR/nv.bin" >/dev/null 2>&1 || bad "nv write"
	expect "remove succeeds" hotplug remove 5
	expect_not "swtpm stopped" pid_alive "$d"
	expect "state kept" test -e "$d/tpm2-00.permall"
	expect_not "sockets gone" test -e "$d/data.ctrl"
	expect_not "instance record gone" test -L "$RUN_ROOT/5.0"
	expect_not "swtpm-ctrl node gone" node 5 swtpm-ctrl
	# the guest boots again as domain 7: the same TPM, not a new one
	backend 7 False
	expect "add again" hotplug add 7
	expect "same directory" test "$(instdir 7)" = "$d"
	ek2=$(tpm "$d" tpm2_readpublic -c 0x81010001 2>/dev/null | grep '^name:')
	expect "same EK" test -n "$ek1" -a "$ek1" = "$ek2"
	expect "NV kept" test "$(tpm "$d" tpm2_nvread 0x1500017 -C o -s 8 2>/dev/null)" = kept-nv!
}

resuming_vtpm_waits_and_is_never_a_fresh_tpm() {
	local d
	backend 6 True
	expect "add succeeds" hotplug add 6
	d=$(instdir 6)
	expect "own directory" test "$d" = "$STATE_ROOT/$UUID/dom6-0"
	expect "swtpm runs" pid_alive "$d"
	expect_not "not provisioned" test -e "$d/tpm2-00.permall"
	expect_not "TPM not initialised" tpm "$d" tpm2_pcrread sha256:0
	expect "swtpm-ctrl node" test "$(node 6 swtpm-ctrl)" = "$d/data.ctrl"
	expect_not "no instance node before recv" node 6 instance
	expect_not "no hotplug-status before recv" node 6 hotplug-status
	expect "remove succeeds" hotplug remove 6
	expect_not "empty instance deleted" test -e "$d"
	expect_not "empty vTPM folder deleted" test -e "$STATE_ROOT/$UUID"
}

incoming_refuses_a_directory_with_state() {
	mkdir -p "$STATE_ROOT/$UUID/dom6-0"
	echo x >"$STATE_ROOT/$UUID/dom6-0/tpm2-00.permall"
	backend 6 True
	expect_not "add fails" hotplug add 6
	expect "hotplug-status error" test "$(node 6 hotplug-status)" = error
	expect "hotplug-error says why" bash -c "xenstore-read '$(be 6)/hotplug-error' | grep -q 'already holds TPM state'"
	expect "state untouched" test "$(cat "$STATE_ROOT/$UUID/dom6-0/tpm2-00.permall")" = x
}

two_state_directories_are_refused() {
	mkdir -p "$STATE_ROOT/$UUID/a" "$STATE_ROOT/$UUID/b"
	echo x >"$STATE_ROOT/$UUID/a/tpm2-00.permall"
	echo y >"$STATE_ROOT/$UUID/b/tpm2-00.permall"
	backend 5 False
	expect_not "add fails" hotplug add 5
	expect "hotplug-error names the copies" bash -c "xenstore-read '$(be 5)/hotplug-error' | grep -q '2 directories'"
}

same_vtpm_twice_is_refused() {
	backend 5 False
	hotplug add 5 || bad "first add"
	backend 8 False
	expect_not "second domain with the same vTPM refused" hotplug add 8
	expect "first still runs" pid_alive "$(instdir 5)"
}

xenstore_data_is_checked() {
	backend 5 False "../../../../tmp/evil"
	expect_not "non-UUID refused" hotplug add 5
	expect_not "nothing created" test -e "$STATE_ROOT"
	expect_not "bad XENBUS_PATH refused" env XENBUS_PATH='backend/vtpm/5/0/../../x' "$SCRIPT" add
	expect_not "usage" "$SCRIPT" frobnicate
}

delete_refuses_running_and_deletes_stopped() {
	backend 5 False
	hotplug add 5 || bad "add"
	expect_not "delete refused while running" "$SCRIPT" delete "$UUID"
	hotplug remove 5 || bad "remove"
	expect "delete" "$SCRIPT" delete "$UUID"
	expect_not "state gone" test -e "$STATE_ROOT/$UUID"
	expect_not "delete refuses a non-UUID" "$SCRIPT" delete '../x'
}

# xend's local migration: source domain 5, destination domain 6 on the same
# host, same vTPM UUID; vtpm_migrate in Xen mode between them.
local_migration_through_the_hotplug_script() {
	local keys=$FX_DIR/keys src dst pcr
	"$VM" keygen -d "$keys" -n hosta >/dev/null || bad "keygen"
	backend 5 False
	hotplug add 5 || bad "source add"
	src=$(instdir 5)
	tpm "$src" tpm2_pcrextend 16:sha256=0000000000000000000000000000000000000000000000000000000000000007 >/dev/null 2>&1
	pcr=$(tpm "$src" tpm2_pcrread sha256:16 2>/dev/null)
	backend 6 True
	hotplug add 6 || bad "destination add"
	dst=$(instdir 6)
	expect "separate instances" test "$src" != "$dst"
	send_5_recv_6 "$keys"
	expect "recv published hotplug-status" test "$(node 6 hotplug-status)" = connected
	expect "recv published instance" test "$(node 6 instance)" = 0
	expect "same PCRs" test "$(tpm "$dst" tpm2_pcrread sha256:16 2>/dev/null)" = "$pcr"
	xen_vm finish --domid 5 2>"$FX_DIR/err" || bad "finish: $(cat "$FX_DIR/err")"
	hotplug remove 5 || bad "source remove"
	expect_not "source directory gone" test -e "$src"
	hotplug remove 6 || bad "destination remove"
	expect "destination state kept" test -e "$dst/tpm2-00.permall"
	# the guest's next boot finds exactly the migrated TPM
	backend 9 False
	expect "next boot" hotplug add 9
	expect "runs the migrated state" test "$(instdir 9)" = "$dst"
}

# TPM 1.2 (VTPM_TPM_VERSION=1.2): a new vTPM is provisioned and runs; a
# resuming one waits; vtpm_migrate moves it between them; the next boot finds
# the migrated TPM 1.2 by its state file.
tpm12_vtpm_provisioned_migrated_and_found_again() {
	local keys=$FX_DIR/keys12 src dst pcr ek
	"$VM" keygen -d "$keys" -n hosta >/dev/null || bad "keygen"
	backend 5 False
	settings VTPM_TPM_VERSION=1.2
	expect "add (TPM 1.2)" hotplug add 5
	src=$(instdir 5)
	expect "provisioned as a TPM 1.2" test -e "$src/tpm-00.permall"
	expect_not "no TPM 2.0 state" test -e "$src/tpm2-00.permall"
	expect "published" test "$(node 5 instance)" = 0
	expect "runs: PCR extend" "$TPM12" "$src/data" extend 16 00000000000000000000000000000000000000aa
	pcr=$("$TPM12" "$src/data" read 16 2>/dev/null)
	expect "PCR 16 read" test "${#pcr}" -eq 40
	ek=$(pubek "$src")
	expect "EK public key read" test "${#ek}" -gt 500
	backend 6 True
	expect "resuming add (TPM 1.2)" hotplug add 6
	dst=$(instdir 6)
	expect_not "resuming vTPM not provisioned" test -e "$dst/tpm-00.permall"
	expect_not "resuming vTPM not initialised" "$TPM12" "$dst/data" read 16
	send_5_recv_6 "$keys"
	expect "same PCR 16 after recv" test "$("$TPM12" "$dst/data" read 16 2>/dev/null)" = "$pcr"
	expect "same EK after recv" test "$(pubek "$dst")" = "$ek"
	expect "recv published instance" test "$(node 6 instance)" = 0
	xen_vm finish --domid 5 2>"$FX_DIR/err" || bad "finish: $(cat "$FX_DIR/err")"
	hotplug remove 5 || bad "source remove"
	hotplug remove 6 || bad "destination remove"
	expect "TPM 1.2 state kept" test -e "$dst/tpm-00.permall"
	# The next boot (the host default is TPM 2.0) finds the TPM 1.2 by its file.
	settings
	backend 9 False
	expect "next boot" hotplug add 9
	expect "the migrated directory" test "$(instdir 9)" = "$dst"
	# A boot starts the TPM clear (PCRs reset); the TPM is the migrated one.
	expect "a running TPM 1.2 with the migrated EK" test "$(pubek "$dst")" = "$ek"
}

# The destination host's default says TPM 2.0 but the record holds a TPM 1.2:
# recv refuses with one line, the waiting TPM is not started, and the source
# is unchanged after recover.
tpm12_record_into_a_tpm2_destination_is_refused() {
	local keys=$FX_DIR/keys12b src dst pcr rc
	"$VM" keygen -d "$keys" -n hosta >/dev/null || bad "keygen"
	backend 5 False
	settings VTPM_TPM_VERSION=1.2
	hotplug add 5 || bad "source add"
	settings
	src=$(instdir 5)
	"$TPM12" "$src/data" extend 16 00000000000000000000000000000000000000bb >/dev/null || bad "extend"
	pcr=$("$TPM12" "$src/data" read 16 2>/dev/null)
	backend 6 True
	hotplug add 6 || bad "destination add"
	dst=$(instdir 6)
	xen_vm send -d "$keys" --to self --domid 5 --domain-uuid "$DOM_UUID" >"$FX_DIR/rec" 2>"$FX_DIR/err" ||
		bad "send: $(cat "$FX_DIR/err")"
	xen_vm recv -d "$keys" --domid 6 --domain-uuid "$DOM_UUID" <"$FX_DIR/rec" 2>"$FX_DIR/err"
	rc=$?
	expect "recv refused with exit 1" test "$rc" -eq 1
	expect "one line naming both versions" bash -c "[ \$(wc -l <'$FX_DIR/err') -eq 1 ] && grep -q 'record holds a TPM 1.2 state, this instance is a TPM 2.0' '$FX_DIR/err'"
	expect_not "destination not started" tpm "$dst" tpm2_pcrread sha256:0
	expect_not "nothing published" node 6 instance
	# The whole record left (its mark stands): plain recover refuses; the
	# destination's explicit refusal is what lets xend use --force.
	xen_vm recover --domid 5 2>"$FX_DIR/err"
	expect "recover refused while the mark stands" grep -q 'recover --force' "$FX_DIR/err"
	xen_vm recover --force --domid 5 2>"$FX_DIR/err" || bad "recover --force: $(cat "$FX_DIR/err")"
	expect "source unchanged" test "$("$TPM12" "$src/data" read 16 2>/dev/null)" = "$pcr"
}

# ---- the guest's TPM back end (vtpm_backend) ----------------------------------

backend_starts_beside_swtpm_and_stops_with_it() {
	local d pid
	backend 5 False
	expect "add succeeds" hotplug add 5
	d=$(instdir 5)
	expect "back end runs" backend_alive "$d"
	pid=$(cat "$d/backend.pid" 2>/dev/null)
	expect "back end in InitWait" fx_wait_for 5 node_is 5 state 2
	expect "protocol v2 offered" test "$(node 5 feature-protocol-v2)" = 1
	expect "started with this script as its remove action" \
		fx_pid_is "$pid" "--on-close $(readlink -f "$SCRIPT") "
	expect "remove succeeds" hotplug remove 5
	expect_not "back end stopped" fx_pid_is "$pid" vtpm_backend
	expect_not "its pid file gone" test -e "$d/backend.pid"
	expect "it closed the device" test "$(node 5 state)" = 6
	expect_not "swtpm stopped" pid_alive "$d"
}

backend_waits_for_the_incoming_tpm() {
	local d
	backend 6 True
	expect "resuming add succeeds" hotplug add 6
	d=$(instdir 6)
	expect "back end runs beside the waiting swtpm" backend_alive "$d"
	expect "back end in InitWait" fx_wait_for 5 node_is 6 state 2
	expect "remove succeeds" hotplug remove 6
	expect_not "back end stopped" backend_alive "$d"
	expect_not "empty instance deleted" test -e "$d"
}

backend_no_disables_it() {
	local d
	backend 5 False
	settings VTPM_BACKEND=no
	expect "add succeeds" hotplug add 5
	d=$(instdir 5)
	expect "swtpm runs" pid_alive "$d"
	expect_not "no back end" test -e "$d/backend.pid"
	expect_not "no back end node" node 5 feature-protocol-v2
	expect "remove succeeds" hotplug remove 5
}

missing_backend_program_fails_the_add_and_stops_swtpm() {
	backend 5 False
	settings "VTPM_BACKEND=$FX_DIR/no-such-backend"
	expect_not "add fails" hotplug add 5
	expect "hotplug-error says why" bash -c "xenstore-read '$(be 5)/hotplug-error' | grep -q 'not an executable program'"
	expect_not "no swtpm left running" pid_alive "$STATE_ROOT/$UUID/dom5-0"
	settings VTPM_BACKEND=vtpm_backend
	expect_not "relative path refused" hotplug add 5
}

# Issue 10.3: a pvops dom0 sends no udev remove for a vtpm backend; xend
# only writes online=0 and state=5 on destroy. The back end runs the remove.
xend_teardown_without_udev_remove_stops_swtpm() {
	local d pid
	backend 5 False
	hotplug add 5 || bad "add"
	d=$(instdir 5)
	pid=$(cat "$d/pid")
	xenstore-write "$(be 5)/online" 0 "$(be 5)/state" 5
	expect "swtpm stopped" fx_wait_for 10 fx_not fx_pid_is "$pid" "dir=$d "
	expect "instance record gone" fx_wait_for 5 fx_not test -L "$RUN_ROOT/5.0"
	expect_not "back end gone" backend_alive "$d"
	expect "state kept" test -e "$d/tpm2-00.permall"
	expect_not "sockets gone" test -e "$d/data.ctrl"
	expect "device Closed" test "$(node 5 state)" = 6
	expect "the remove was logged" grep -q 'stopped; state kept' "$d/backend.log"
}

backend_directory_removed_stops_incoming_swtpm() {
	local d pid
	backend 6 True
	hotplug add 6 || bad "add"
	d=$(instdir 6)
	pid=$(cat "$d/pid")
	xenstore-rm "$(be 6)"
	expect "swtpm stopped" fx_wait_for 10 fx_not fx_pid_is "$pid" "dir=$d "
	expect "empty instance deleted" fx_wait_for 5 fx_not test -e "$d"
	expect_not "nodes not written again" node 6 state
}

# ---- settings, paths, policy and marks -----------------------------------------

# Issue 22.4: the environment is no test seam: neither VTPM_* nor
# VTPM_SWTPM_CONF nor the install's paths override what the files say.
environment_does_not_override_the_settings() {
	local d
	backend 5 False
	expect "add succeeds" env VTPM_STATE_ROOT="$FX_DIR/env-state" VTPM_RUN_ROOT="$FX_DIR/env-run" \
		VTPM_BACKEND=no VTPM_SWTPM_CONF=/nonexistent VTPM_TPM_VERSION=1.2 VTPM_LOCALITIES=0,3 \
		XEN_CONFIG_DIR=/nonexistent SBINDIR=/nonexistent XENBUS_PATH=backend/vtpm/5/0 "$SCRIPT" add
	d=$(instdir 5)
	expect "state where the settings file says" test "$(dirname "$d")" = "$STATE_ROOT/$UUID"
	expect_not "nothing where the environment says" test -e "$FX_DIR/env-state"
	expect "a TPM 2.0, as the settings file says" test -e "$d/tpm2-00.permall"
	expect "the settings file's back end, locality 0" backend_runs "$d" "--localities 0 "
}

# Issue 22.7: the back end is SBINDIR/vtpm_backend of the Xen install, from
# hotplugpath.sh beside the script (SBINDIR in 4.1/4.2, sbindir later).
backend_is_found_in_the_install_sbindir() {
	local sbin=$FX_DIR/sbin
	mkdir -p "$sbin" && ln -sf "$BACKEND" "$sbin/vtpm_backend"
	printf '%s\n' "VTPM_STATE_ROOT=$STATE_ROOT" "VTPM_RUN_ROOT=$RUN_ROOT" VTPM_EK_CERTS=no \
		>"$ETC/vtpm-swtpm.conf"
	install_paths "SBINDIR=\"$sbin\"" 'BINDIR="/usr/bin"' "XEN_CONFIG_DIR=\"$ETC\""
	backend 5 False
	expect "add succeeds (Xen 4.2's hotplugpath.sh)" hotplug add 5
	expect "the back end in SBINDIR runs" backend_runs "$(instdir 5)" "$sbin/vtpm_backend --backend"
	hotplug remove 5 || bad "remove"
	install_paths "sbindir=\"$sbin\"" 'bindir="/usr/bin"' "XEN_CONFIG_DIR=\"$ETC\""
	backend 7 False
	expect "add succeeds (a later release's hotplugpath.sh)" hotplug add 7
	expect "the back end in sbindir runs" backend_runs "$(instdir 7)" "$sbin/vtpm_backend --backend"
}

install_without_paths_is_refused() {
	local bare=$FX_DIR/bare rc
	mkdir -p "$bare" && cp "$SCRIPT" "$bare/"
	backend 5 False
	XENBUS_PATH=backend/vtpm/5/0 "$bare/vtpm-swtpm" add 2>"$FX_DIR/err"
	rc=$?
	expect "no hotplugpath.sh: exit 1" test "$rc" -eq 1
	expect "it says which file" grep -qF "cannot read $bare/hotplugpath.sh" "$FX_DIR/err"
	install_paths 'BINDIR="/usr/bin"' "XEN_CONFIG_DIR=\"$ETC\""
	expect_not "no SBINDIR: refused" hotplug add 5
	expect_not "nothing started" test -e "$STATE_ROOT"
}

# Issue 20.6: the guest's localities: 0 by default, the host's
# VTPM_LOCALITIES, a vTPM's own vtpm-swtpm.d/UUID.conf over it.
backend_gets_the_vtpms_locality_policy() {
	backend 5 False
	hotplug add 5 || bad "add"
	expect "locality 0 by default" backend_runs "$(instdir 5)" "--localities 0 "
	hotplug remove 5 || bad "remove"
	settings VTPM_LOCALITIES=0,1
	hotplug add 5 || bad "add"
	expect "the host's localities" backend_runs "$(instdir 5)" "--localities 0,1 "
	hotplug remove 5 || bad "remove"
	mkdir -p "$ETC/vtpm-swtpm.d"
	printf '%s\n' '# this vTPM only' VTPM_LOCALITIES=0,2 "VTPM_STATE_ROOT=$FX_DIR/x" \
		>"$ETC/vtpm-swtpm.d/$UUID.conf"
	hotplug add 5 2>"$FX_DIR/err" || bad "add"
	expect "the vTPM's own localities" backend_runs "$(instdir 5)" "--localities 0,2 "
	expect "only VTPM_LOCALITIES is a vTPM's own" grep -q "unknown setting 'VTPM_STATE_ROOT'" "$FX_DIR/err"
	expect "its state where the host says" test "$(dirname "$(instdir 5)")" = "$STATE_ROOT/$UUID"
	hotplug remove 5 || bad "remove"
	echo VTPM_LOCALITIES=0,5 >"$ETC/vtpm-swtpm.d/$UUID.conf"
	expect_not "a locality that does not exist is refused" hotplug add 5
	expect "hotplug-error says why" grep -q "VTPM_LOCALITIES must list localities 0-4" <<<"$(hotplug_error 5)"
	expect_not "no swtpm started" pid_alive "$STATE_ROOT/$UUID/dom5-0"
}

# The left-this-host mark (the record left whole) and the pending mark (a
# sender stopped while sending): the vTPM is not started; the refusal names
# the command that decides.
left_marks_refuse_the_start() {
	local d
	backend 5 False
	hotplug add 5 || bad "add"
	d=$(instdir 5)
	hotplug remove 5 || bad "remove"
	touch "$d/vtpm-left.pending"
	backend 7 False
	expect_not "pending mark: add refused" hotplug add 7
	expect "it names plain recover" grep -qF -- \
		"vtpm_migrate recover --ctrl $d/data.ctrl --uuid $UUID decides" <<<"$(hotplug_error 7)"
	expect_not "without --force" grep -q -- --force <<<"$(hotplug_error 7)"
	expect_not "swtpm not started" pid_alive "$d"
	echo "generation 4" >"$d/vtpm-left"
	expect_not "left mark: add refused" hotplug add 7
	expect "it names recover --force" grep -qF -- \
		"vtpm_migrate recover --force --ctrl $d/data.ctrl --uuid $UUID" <<<"$(hotplug_error 7)"
	expect "and the generation" grep -qF "(generation 4)" <<<"$(hotplug_error 7)"
	expect_not "swtpm not started" pid_alive "$d"
	rm -f "$d/vtpm-left" "$d/vtpm-left.pending"
	expect "started once the marks are gone" hotplug add 7
	expect "the same state" test "$(instdir 7)" = "$d"
}

fx_xenstored_start xenstored
for c in new_vtpm_is_provisioned_running_and_published \
	remove_stops_and_keeps_state_restart_is_same_tpm \
	resuming_vtpm_waits_and_is_never_a_fresh_tpm \
	incoming_refuses_a_directory_with_state \
	two_state_directories_are_refused \
	same_vtpm_twice_is_refused \
	xenstore_data_is_checked \
	delete_refuses_running_and_deletes_stopped \
	local_migration_through_the_hotplug_script \
	tpm12_vtpm_provisioned_migrated_and_found_again \
	tpm12_record_into_a_tpm2_destination_is_refused \
	backend_starts_beside_swtpm_and_stops_with_it \
	backend_waits_for_the_incoming_tpm \
	backend_no_disables_it \
	missing_backend_program_fails_the_add_and_stops_swtpm \
	xend_teardown_without_udev_remove_stops_swtpm \
	backend_directory_removed_stops_incoming_swtpm \
	environment_does_not_override_the_settings \
	backend_is_found_in_the_install_sbindir \
	install_without_paths_is_refused \
	backend_gets_the_vtpms_locality_policy \
	left_marks_refuse_the_start; do
	run_case "$c"
done
echo "vtpm-swtpm: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
