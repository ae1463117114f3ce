# shellcheck shell=bash
# shellcheck disable=SC2034 # a library: its variables are read by the tests
#
# Fixtures for the end-to-end tests: a private temporary directory, swtpm
# instances, the real xenstored under a preload shim, and two "hosts" as
# network namespaces. Source it from a test in tests/e2e/:
#
#     . "$(dirname "$0")/../lib/fixtures.sh"
#     fx_init
#
# fx_init installs an EXIT trap that stops everything the test started
# (swtpm by pid file, xenstored, background jobs, any process whose command
# line names a path under $FX_DIR, network namespaces) and removes $FX_DIR,
# also when the test fails or is interrupted. A test that needs its own
# clean-up registers it with fx_on_exit instead of trap.
#
# Setup helpers that cannot do their job end the test through fx_fail; the
# query helpers (fx_swtpm_alive, ...) answer with their exit status.
# Inside $(...) fx_fail only ends the subshell: write
#     VM=$(fx_bin vtpm_migrate) || exit 1
#
# Overview:
#   fx_init, fx_fail MSG, fx_log MSG, fx_on_exit CMD...
#   fx_expect_ok DESC CMD...     exit 0 required; FX_OUT, FX_ERR
#   fx_expect_fail DESC CMD...   exit 1 and exactly one stderr line; FX_ERR
#   fx_bin NAME                  $VTPM_TEST_BIN/NAME, or fail
#   fx_wait_for SECS CMD..., fx_not CMD...
#   fx_swtpm_running|fx_swtpm_waiting NAME tpm2|tpm12 [NS]
#   fx_swtpm_stop|fx_swtpm_alive|fx_swtpm_pid NAME
#   fx_swtpm_dir|fx_swtpm_ctrl|fx_swtpm_data NAME  (paths)
#   fx_xenstored_start [NAME] [NS], fx_xenstored_use|_stop|_alive [NAME]
#   fx_netns_pair, fx_in NS CMD..., fx_free_port [NS]
#   fx_domstate_env              the xc_domstate.so preload for vtpm_migrate
#
# Environment:
#   VTPM_TEST_BIN   build folder (vtpm_migrate, tools/NAME, shim/NAME.so);
#                   default: the build folder next to tests/.
#   FX_KEEP=1       keep $FX_DIR after the test (for debugging).
#   SANITIZER=1     set by run-e2e.sh for sanitizer builds.

FX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX_TESTS_DIR=$(dirname "$FX_LIB_DIR")
: "${VTPM_TEST_BIN:=$(dirname "$FX_TESTS_DIR")/build}"
export VTPM_TEST_BIN

FX_TEST_NAME=$(basename "$0" .sh)
FX_DIR=
FX_XENSTORED=/usr/lib/xen-4.17/bin/xenstored
FX_NS_A=
FX_NS_B=
FX_ADDR_A=
FX_ADDR_B=
FX_EXIT_HOOKS=()
FX_OUT= # stdout of the last fx_expect_ok / fx_expect_fail
FX_ERR= # stderr of the last fx_expect_ok / fx_expect_fail
FX_CLEANED=

if [ "${SANITIZER:-}" = 1 ]; then
	# Preload shims come before the ASan runtime in the library list.
	: "${ASAN_OPTIONS:=verify_asan_link_order=0:detect_leaks=1:exitcode=86}"
	# A distinct exit code, so a sanitizer report never passes for a refusal.
	: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1:exitcode=86}"
	export ASAN_OPTIONS UBSAN_OPTIONS
fi

# ---- basics ----------------------------------------------------------------

# fx_fail MESSAGE: report the failure and end the test (the trap cleans up).
fx_fail() {
	echo "FAIL: $FX_TEST_NAME: $*" >&2
	exit 1
}

# fx_log MESSAGE: a progress line on stderr.
fx_log() {
	echo "$FX_TEST_NAME: $*" >&2
}

# fx_on_exit CMD [ARGS...]: run this command at clean-up (last added, first run).
fx_on_exit() {
	FX_EXIT_HOOKS+=("$(printf '%q ' "$@")")
}

# fx_init: create $FX_DIR and install the clean-up trap.
fx_init() {
	FX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-e2e.$FX_TEST_NAME.XXXXXX") ||
		fx_fail "cannot create a temporary directory"
	export FX_DIR
	: >"$FX_DIR/.netns"
	trap fx_cleanup EXIT
	trap 'fx_signalled INT 130' INT
	trap 'fx_signalled TERM 143' TERM
	trap 'fx_signalled HUP 129' HUP
}

fx_signalled() {
	echo "FAIL: $FX_TEST_NAME: interrupted by SIG$1" >&2
	exit "$2"
}

# fx_expect_ok DESC CMD [ARGS...]: CMD must exit 0; its stdout is kept in
# $FX_DIR/.out (and FX_OUT), its stderr in $FX_DIR/.err.
fx_expect_ok() {
	local desc=$1 rc
	shift
	"$@" >"$FX_DIR/.out" 2>"$FX_DIR/.err"
	rc=$?
	FX_OUT=$(cat "$FX_DIR/.out")
	FX_ERR=$(cat "$FX_DIR/.err")
	[ "$rc" -eq 0 ] ||
		fx_fail "$desc: exit $rc: $(head -c 600 "$FX_DIR/.err" | tr '\n' ' ')"
	return 0
}

# fx_expect_fail DESC CMD [ARGS...]: CMD must refuse as the contract says:
# exit 1 and exactly one line on stderr (kept in FX_ERR).
fx_expect_fail() {
	local desc=$1 rc n
	shift
	"$@" >"$FX_DIR/.out" 2>"$FX_DIR/.err"
	rc=$?
	FX_OUT=$(cat "$FX_DIR/.out")
	FX_ERR=$(cat "$FX_DIR/.err")
	[ "$rc" -eq 1 ] ||
		fx_fail "$desc: expected exit 1, got $rc: $(head -c 600 "$FX_DIR/.err" | tr '\n' ' ')"
	n=$(grep -c '' "$FX_DIR/.err")
	[ "$n" -eq 1 ] ||
		fx_fail "$desc: expected one line on stderr, got $n: $(head -c 600 "$FX_DIR/.err" | tr '\n' '|')"
	return 0
}

# fx_bin NAME: path of a built program, test tool or shim; fails the test if
# it was not built. NAME is vtpm_migrate, tools/X or shim/X.so.
fx_bin() {
	local p="$VTPM_TEST_BIN/$1"
	[ -x "$p" ] || [ -f "$p" ] || fx_fail "missing $p (run make all first)"
	printf '%s\n' "$p"
}

# fx_wait_for SECONDS CMD [ARGS...]: poll CMD every 20 ms until it succeeds.
fx_wait_for() {
	local limit=$(($1 * 50)) i=0
	shift
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -ge "$limit" ] && return 1
		sleep 0.02
	done
	return 0
}

# Is PID alive and is its command line mentioning TAG (guards pid reuse)?
fx_pid_is() {
	local pid=$1 tag=$2
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$tag"
}

# Stop PID (TERM, then KILL after ~2 s) if it still matches TAG.
fx_kill_pid() {
	local pid=$1 tag=$2 i
	fx_pid_is "$pid" "$tag" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		fx_pid_is "$pid" "$tag" || return 0
		# a zombie child of ours counts as gone
		[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
		sleep 0.02
	done
	kill -KILL "$pid" 2>/dev/null || true
	return 0
}

# End every process whose command line names a path in $FX_DIR (swtpm
# started by a hotplug script, listeners, ...): all were started by this test.
fx_sweep_procs() {
	local p cmd i
	local -a pids=()
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = "$$" ] && continue
		{ cmd=$(tr '\0' ' ' <"/proc/$p/cmdline"); } 2>/dev/null || continue
		case $cmd in
		*"$FX_DIR/"*) pids+=("$p") ;;
		esac
	done
	[ "${#pids[@]}" -eq 0 ] && return 0
	kill -TERM "${pids[@]}" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		local -a left=()
		for p in "${pids[@]}"; do
			fx_pid_is "$p" "$FX_DIR/" && left+=("$p")
		done
		[ "${#left[@]}" -eq 0 ] && return 0
		pids=("${left[@]}")
		sleep 0.02
	done
	kill -KILL "${pids[@]}" 2>/dev/null
	return 0
}

fx_cleanup() {
	local rc=$? i pidfile ns jpids
	[ -n "$FX_CLEANED" ] && return "$rc"
	FX_CLEANED=1
	trap - INT TERM HUP
	set +e
	for ((i = ${#FX_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${FX_EXIT_HOOKS[$i]}" >/dev/null 2>&1
	done
	jpids=$(jobs -p)
	if [ -n "$jpids" ]; then
		# shellcheck disable=SC2086 # a list of pids
		kill -TERM $jpids 2>/dev/null
	fi
	if [ -n "$FX_DIR" ] && [ -d "$FX_DIR" ]; then
		for pidfile in "$FX_DIR"/*/pid; do
			[ -f "$pidfile" ] || continue
			fx_kill_pid "$(cat "$pidfile" 2>/dev/null)" "dir=$(dirname "$pidfile") "
		done
		for pidfile in "$FX_DIR"/*/xenstored.pid; do
			[ -f "$pidfile" ] || continue
			fx_kill_pid "$(cat "$pidfile" 2>/dev/null)" "-F $pidfile"
		done
		fx_sweep_procs
		if [ -s "$FX_DIR/.netns" ]; then
			while read -r ns; do
				[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
			done <"$FX_DIR/.netns"
		fi
		if [ -n "$jpids" ]; then
			# shellcheck disable=SC2086
			wait $jpids 2>/dev/null
		fi
		if [ "${FX_KEEP:-}" = 1 ]; then
			echo "$FX_TEST_NAME: kept $FX_DIR" >&2
		else
			rm -rf "$FX_DIR"
		fi
	fi
	return "$rc"
}

# ---- network namespaces ----------------------------------------------------

# fx_in NS CMD [ARGS...]: run CMD inside namespace NS, or here if NS is empty.
fx_in() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# fx_netns_pair: two namespaces joined by a veth pair, addresses only inside
# them. Sets FX_NS_A, FX_NS_B, FX_ADDR_A, FX_ADDR_B. Where namespaces cannot
# be made, falls back to loopback: empty names, both addresses 127.0.0.1.
fx_netns_pair() {
	local a="vtpm-e2e-$$-a" b="vtpm-e2e-$$-b"
	FX_NS_A=
	FX_NS_B=
	if ip netns add "$a" 2>/dev/null; then
		echo "$a" >>"$FX_DIR/.netns"
		if ip netns add "$b" 2>/dev/null; then
			echo "$b" >>"$FX_DIR/.netns"
			if ip -n "$a" link add veth0 type veth peer name veth1 netns "$b" 2>/dev/null &&
				ip -n "$a" addr add 169.254.77.1/30 dev veth0 &&
				ip -n "$b" addr add 169.254.77.2/30 dev veth1 &&
				ip -n "$a" link set lo up && ip -n "$b" link set lo up &&
				ip -n "$a" link set veth0 up && ip -n "$b" link set veth1 up &&
				ip netns exec "$a" true 2>/dev/null; then
				FX_NS_A=$a
				FX_NS_B=$b
				FX_ADDR_A=169.254.77.1
				FX_ADDR_B=169.254.77.2
				export FX_NS_A FX_NS_B FX_ADDR_A FX_ADDR_B
				return 0
			fi
		fi
	fi
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
	FX_ADDR_A=127.0.0.1
	FX_ADDR_B=127.0.0.1
	export FX_NS_A FX_NS_B FX_ADDR_A FX_ADDR_B
	echo "$FX_TEST_NAME: network namespaces not available, using loopback" >&2
	return 0
}

# fx_free_port [NS]: print a TCP port nobody listens on (in NS if given).
fx_free_port() {
	local ns=${1:-} port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if [ -z "$(fx_in "$ns" ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	fx_fail "no free TCP port found"
}

# ---- swtpm -----------------------------------------------------------------

# Directory layout of one instance (CONTRACT.md): $FX_DIR/NAME with the
# control socket data.ctrl, the data socket data and the pid file pid.
fx_swtpm_dir() { printf '%s\n' "$FX_DIR/$1"; }
fx_swtpm_ctrl() { printf '%s\n' "$FX_DIR/$1/data.ctrl"; }
fx_swtpm_data() { printf '%s\n' "$FX_DIR/$1/data"; }

# fx_swtpm_start NAME tpm2|tpm12 running|waiting [NS]
fx_swtpm_start() {
	local name=$1 ver=$2 mode=$3 ns=${4:-} d
	local -a args
	[ -n "$FX_DIR" ] || fx_fail "fx_init was not called"
	d="$FX_DIR/$name"
	mkdir -p "$d" || fx_fail "cannot create $d"
	if fx_swtpm_alive "$name"; then
		fx_fail "swtpm $name is already running"
	fi
	rm -f "$d/pid" "$d/data" "$d/data.ctrl"
	args=(socket --tpmstate "dir=$d"
		--ctrl "type=unixio,path=$d/data.ctrl"
		--server "type=unixio,path=$d/data"
		--pid "file=$d/pid" --log "file=$d/swtpm.log,level=2" -d)
	case $ver in
	tpm2) args+=(--tpm2) ;;
	tpm12) ;;
	*) fx_fail "fx_swtpm_start: unknown TPM version '$ver' (tpm2|tpm12)" ;;
	esac
	case $mode in
	running) args+=(--flags startup-clear) ;;
	waiting) ;;
	*) fx_fail "fx_swtpm_start: unknown mode '$mode' (running|waiting)" ;;
	esac
	fx_in "$ns" swtpm "${args[@]}" >>"$d/swtpm.log" 2>&1 ||
		fx_fail "swtpm $name ($ver, $mode) did not start: $(tail -n 3 "$d/swtpm.log" | tr '\n' ' ')"
	fx_wait_for 5 test -S "$d/data.ctrl" ||
		fx_fail "swtpm $name: no control socket after 5 s"
	fx_wait_for 5 test -s "$d/pid" ||
		fx_fail "swtpm $name: no pid file after 5 s"
	return 0
}

# fx_swtpm_running NAME tpm2|tpm12 [NS]: a TPM that is initialised and runs.
fx_swtpm_running() { fx_swtpm_start "$1" "$2" running "${3:-}"; }

# fx_swtpm_waiting NAME tpm2|tpm12 [NS]: not initialised, waiting for state.
fx_swtpm_waiting() { fx_swtpm_start "$1" "$2" waiting "${3:-}"; }

# fx_swtpm_pid NAME: print the pid from the pid file (empty if none).
fx_swtpm_pid() {
	local f="$FX_DIR/$1/pid"
	[ -s "$f" ] && cat "$f"
	return 0
}

# fx_swtpm_alive NAME: 0 if that swtpm process runs.
fx_swtpm_alive() {
	fx_pid_is "$(fx_swtpm_pid "$1")" "dir=$FX_DIR/$1 "
}

# fx_swtpm_stop NAME: end that swtpm (its state files stay).
fx_swtpm_stop() {
	local pid
	pid=$(fx_swtpm_pid "$1")
	[ -n "$pid" ] || return 0
	fx_kill_pid "$pid" "dir=$FX_DIR/$1 "
	fx_wait_for 5 fx_not fx_swtpm_alive "$1" ||
		fx_fail "swtpm $1 (pid $pid) does not stop"
	rm -f "$FX_DIR/$1/pid"
	return 0
}

# fx_not CMD [ARGS...]: succeed if CMD fails.
fx_not() { ! "$@"; }

# ---- xenstored -------------------------------------------------------------

# fx_xenstored_start [NAME] [NS]: the real C xenstored under the preload shim,
# its socket at $FX_DIR/NAME/socket (NAME defaults to xenstored). Exports
# XENSTORED_PATH so libxenstore and the xenstore-* tools use it.
fx_xenstored_start() {
	local name=${1:-xenstored} ns=${2:-} d shim
	local -a cmd
	[ -n "$FX_DIR" ] || fx_fail "fx_init was not called"
	[ -x "$FX_XENSTORED" ] || fx_fail "missing $FX_XENSTORED (package xen-utils-4.17)"
	shim=$(fx_bin shim/xenstored_shim.so) || exit 1
	d="$FX_DIR/$name"
	mkdir -p "$d" || fx_fail "cannot create $d"
	rm -f "$d/socket" "$d/xenstored.pid"
	# -N: no fork of its own; -F: it writes its pid file. Started from a
	# subshell, so it is no job of the test shell (a bare `wait` in a test
	# does not wait for it). The daemon reads XENSTORED_PATH too: give it
	# its own socket.
	cmd=(env XENSTORED_RUNDIR="$d" XENSTORED_PATH="$d/socket" LD_PRELOAD="$shim"
		"$FX_XENSTORED" -N -F "$d/xenstored.pid")
	if [ -n "$ns" ]; then
		cmd=(ip netns exec "$ns" "${cmd[@]}")
	fi
	("${cmd[@]}" >"$d/xenstored.log" 2>&1 </dev/null &)
	if ! fx_wait_for 5 test -S "$d/socket"; then
		fx_fail "xenstored $name: no socket after 5 s: $(tail -n 3 "$d/xenstored.log" | tr '\n' ' ')"
	fi
	fx_wait_for 5 test -s "$d/xenstored.pid" ||
		fx_fail "xenstored $name: no pid file after 5 s"
	XENSTORED_PATH="$d/socket"
	export XENSTORED_PATH
	fx_wait_for 5 xenstore-read / >/dev/null 2>&1 ||
		fx_fail "xenstored $name does not answer"
	return 0
}

# fx_xenstored_use [NAME]: point XENSTORED_PATH at that xenstored.
fx_xenstored_use() {
	XENSTORED_PATH="$FX_DIR/${1:-xenstored}/socket"
	export XENSTORED_PATH
}

# fx_xenstored_stop [NAME]
fx_xenstored_stop() {
	local name=${1:-xenstored} d pid
	d="$FX_DIR/$name"
	[ -s "$d/xenstored.pid" ] || return 0
	pid=$(cat "$d/xenstored.pid")
	fx_kill_pid "$pid" "-F $d/xenstored.pid"
	fx_wait_for 5 fx_not fx_pid_is "$pid" "-F $d/xenstored.pid" ||
		fx_fail "xenstored $name (pid $pid) does not stop"
	rm -f "$d/xenstored.pid" "$d/socket"
	if [ "${XENSTORED_PATH:-}" = "$d/socket" ]; then
		unset XENSTORED_PATH
	fi
	return 0
}

# fx_xenstored_alive [NAME]
fx_xenstored_alive() {
	local d="$FX_DIR/${1:-xenstored}"
	[ -s "$d/xenstored.pid" ] && fx_pid_is "$(cat "$d/xenstored.pid")" "-F $d/xenstored.pid"
}

# ---- the xenctrl preload for our own binary ------------------------------

# fx_domstate_env: print the LD_PRELOAD value that makes vtpm_migrate see the
# domain states in VTPM_TEST_DOMSTATE, e.g.
#   VTPM_TEST_DOMSTATE=5:paused LD_PRELOAD=$(fx_domstate_env) "$VM" send ...
fx_domstate_env() {
	fx_bin shim/xc_domstate.so
}
