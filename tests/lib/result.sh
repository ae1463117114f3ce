# shellcheck shell=bash
# The counting of this tree's check scripts: result NAME STATUS [DETAIL]
# prints "ok: NAME" or "FAIL: NAME: DETAIL" and counts it; the script ends
# with its "NAME: $PASSED passed, $FAILED failed" line.
PASSED=0
FAILED=0

result() {
	if [ "$2" -eq 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok: $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL: $1${3:+: $3}"
	fi
}
