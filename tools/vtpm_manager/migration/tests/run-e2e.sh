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
# E2E_TIMEOUT (seconds, default 300) bounds each test. E2E_JOBS (default 2)
# tests run at a time, each in its own directories, namespaces and daemons;
# their results are printed in order. A test with a line "# run-e2e: early"
# (one that spends its time waiting out timeouts) is started first.

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
interrupted=0
jobs=${E2E_JOBS:-2}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-e2e-logs.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT
# Stop the running tests (timeout passes the signal on to its process group).
trap 'interrupted=1; for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done' INT TERM

names=()
for f in "$here"/e2e/*.sh; do
	[ -f "$f" ] || continue
	name=$(basename "$f" .sh)
	selected "$f" "$name" && names+=("$name")
done

# run NAME: the test in the background; its exit code and time in its files.
declare -A pids=()
run() {
	(
		start=$(date +%s)
		timeout --kill-after=15 "$timeout_s" bash "$here/e2e/$1.sh" >"$logdir/$1.log" 2>&1 </dev/null
		echo $? >"$logdir/$1.rc"
		echo $(($(date +%s) - start)) >"$logdir/$1.secs"
	) &
	pids[$1]=$!
}

# report NAME: print the result of a test that has ended.
report() {
	local name=$1 rc log="$logdir/$1.log"
	rc=$(cat "$logdir/$name.rc")
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
		echo "    ($name: $(cat "$logdir/$name.secs") s, exit $rc)"
	fi
}

# The order they start in: the early ones first.
order=()
for name in "${names[@]}"; do
	grep -qx '# run-e2e: early' "$here/e2e/$name.sh" && order+=("$name")
done
for name in "${names[@]}"; do
	grep -qx '# run-e2e: early' "$here/e2e/$name.sh" || order+=("$name")
done

# A pool of E2E_JOBS; results printed in order as soon as they are known.
next=0
shown=0
while [ "$shown" -lt "${#names[@]}" ] && [ "$interrupted" = 0 ]; do
	while [ "$next" -lt "${#order[@]}" ] && [ "${#pids[@]}" -lt "$jobs" ]; do
		run "${order[$next]}"
		next=$((next + 1))
	done
	wait -n 2>/dev/null
	for name in "${!pids[@]}"; do
		kill -0 "${pids[$name]}" 2>/dev/null || { wait "${pids[$name]}"; unset "pids[$name]"; }
	done
	while [ "$shown" -lt "${#names[@]}" ] && [ -e "$logdir/${names[$shown]}.secs" ]; do
		report "${names[$shown]}"
		shown=$((shown + 1))
	done
done
wait

if [ "$interrupted" = 1 ]; then
	echo "interrupted"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
