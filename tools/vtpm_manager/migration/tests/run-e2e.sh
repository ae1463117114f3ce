#!/bin/bash
#
# Run the end-to-end tests in e2e/*.sh (sorted), each under a time limit.
#
#   run-e2e.sh                 every test
#   run-e2e.sh sanitizer       only tests marked with a line "# sanitizer: yes",
#                              with SANITIZER=1 in their environment
#   run-e2e.sh PATTERN...      only tests whose name contains one of PATTERNs
#
# Prints "PASS name" or "FAIL name" per test (a failing test's output follows,
# indented), then "N passed, N failed". Exits 1 if any test failed. A test
# that exits 77 cannot run on this machine: "SKIP name: <its last line>",
# counted in neither number.
# E2E_TIMEOUT (seconds, default 300) bounds each test.

set -u

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${E2E_TIMEOUT:-300}
sanitizer=0
filters=()

if [ "${1:-}" = sanitizer ]; then
	sanitizer=1
	shift
fi
filters=("$@")

: "${VTPM_TEST_BIN:=$(dirname "$here")/build}"
export VTPM_TEST_BIN
if [ "$sanitizer" = 1 ]; then
	export SANITIZER=1
fi

selected() {
	local f=$1 name=$2 p
	if [ "$sanitizer" = 1 ] && ! grep -qx '# sanitizer: yes' "$f"; then
		return 1
	fi
	[ "${#filters[@]}" -eq 0 ] && return 0
	for p in "${filters[@]}"; do
		case $name in
		*"$p"*) return 0 ;;
		esac
	done
	return 1
}

passed=0
failed=0
skipped=0
child=
interrupted=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-e2e-logs.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT
# Stop the running test (timeout passes the signal on to its process group).
trap 'interrupted=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' INT TERM

for f in "$here"/e2e/*.sh; do
	[ -f "$f" ] || continue
	[ "$interrupted" = 1 ] && break
	name=$(basename "$f" .sh)
	selected "$f" "$name" || continue
	log="$logdir/$name.log"
	start=$(date +%s)
	timeout --kill-after=15 "$timeout_s" bash "$f" >"$log" 2>&1 </dev/null &
	child=$!
	while :; do
		wait "$child"
		rc=$?
		# wait returns early (>128) when a trapped signal arrives
		kill -0 "$child" 2>/dev/null || break
	done
	child=
	secs=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name"
		passed=$((passed + 1))
	elif [ "$rc" -eq 77 ]; then
		# A test that cannot run here says why on its last line.
		echo "SKIP $name: $(tail -n 1 "$log")"
		skipped=$((skipped + 1))
	else
		echo "FAIL $name"
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "    | timed out after ${timeout_s} s"
		fi
		sed 's/^/    | /' "$log"
		failed=$((failed + 1))
	fi
	if [ -n "${E2E_VERBOSE:-}" ]; then
		echo "    ($name: ${secs} s, exit $rc)"
	fi
done

if [ "$interrupted" = 1 ]; then
	echo "interrupted"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
