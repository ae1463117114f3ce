#!/bin/bash
# Checks of what the README tells a person to run: every `make TARGET` it
# names exists (in this tree's Makefile of the folder it names), every
# script of this tree it gives as a command is executable, a plain `make` on a machine that
# lacks a build package names the packages in one line and builds nothing,
# and `make demo` passes. Ends with "readme: N passed, N failed".
# shellcheck disable=SC2016 # backquotes and $( are literal text here
set -u
cd "$(dirname "$0")/../.." || exit 1
README=README.md
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# As a person runs it: not as a part of the make that runs this check.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

# shellcheck source=SCRIPTDIR/../../tests/lib/result.sh
. tests/lib/result.sh

# ---- the make commands: from the code blocks and the inline code --------
{
	sed -n 's/^    \(make\( [^ ]\{1,\}\)*\).*/\1/p' "$README"
	tr '\n' ' ' <"$README" | grep -o '`[^`]*`' | tr -d '`' | grep -o '\(^\| \)make .*' | sed 's/^ //'
} | sort -u >"$TMP/commands"
# targets DIR TARGET: does DIR's Makefile have a rule for TARGET?
has_target() {
	make -C "$1" -pq .DEFAULT 2>/dev/null | grep -q "^$2:"
}
checked=0
bad=
skipped=
while read -r -a w; do
	dir=.
	targets=()
	for ((i = 1; i < ${#w[@]}; i++)); do
		case ${w[$i]} in
		-C) i=$((i + 1)); dir=${w[$i]:-} ;;
		-* | *=* | *...* | *'$('*) ;;
		*) targets+=("${w[$i]}") ;;
		esac
	done
	if [ ! -f "$dir/Makefile" ]; then
		skipped="$skipped; ${w[*]}" # a Xen tree's folder, not this tree's
		continue
	fi
	for t in "${targets[@]}"; do
		checked=$((checked + 1))
		has_target "$dir" "$t" || bad="$bad ${w[*]} ($dir: no target $t);"
	done
done <"$TMP/commands"
note=
[ -z "$skipped" ] || note=" (skipped, a Xen tree's: ${skipped#; })"
[ -z "$bad" ] && [ "$checked" -gt 3 ]
result "the $checked make targets the README names exist$note" $? "$bad"

# ---- the scripts it tells a person to run ---------------------------------
# The first word of a code line or of inline code, where that is a file of
# this tree (not a path in a Xen tree): it must be there and executable.
bad=
n=0
while read -r f; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	[ -x "$f" ] || bad="$bad $f"
done < <({
	sed -n 's/^    \([^ ]*\).*/\1/p' "$README"
	tr '\n' ' ' <"$README" | grep -o '`[^`]*`' | tr -d '`' | sed 's/^\([^ ]*\).*/\1/'
} | grep '^[A-Za-z0-9_.][A-Za-z0-9_./-]*\(\.sh\|\.py\|/run\)$' | sort -u)
[ -z "$bad" ] && [ "$n" -gt 0 ]
result "the $n scripts of this tree the README gives as commands are executable" $? "not executable:$bad"

# ---- a plain make on a machine that lacks a build package ------------------
# plain_make "PACKAGES" ENV...: make, run as a fresh machine that lacks
# those packages would (ENV hides them), must stop before building with one
# line that names exactly them and says what installs them.
plain_make() {
	local want=$1 got st=0
	shift
	env "$@" make >"$TMP/out" 2>"$TMP/err"
	[ $? -eq 2 ] && [ ! -s "$TMP/out" ] && [ "$(grep -c '' "$TMP/err")" -eq 1 ] || st=1
	grep -q '`make check` or `make demo` installs them' "$TMP/err" || st=1
	got=$(sed -n 's/.*missing packages: \([^;]*\);.*/\1/p' "$TMP/err")
	[ "$got" = "$want" ] || st=1
	result "plain make with $* names, in one line: $want" "$st" "$(cat "$TMP/out" "$TMP/err" | tr '\n' '|')"
}
mkdir "$TMP/no-pc" "$TMP/bin"
for c in make cc; do
	ln -s "$(command -v "$c")" "$TMP/bin/$c" || exit 1
done
plain_make "libxen-dev libssl-dev check" PKG_CONFIG_LIBDIR="$TMP/no-pc"
plain_make "pkg-config" PATH="$TMP/bin"
plain_make "libxen-dev libssl-dev check swtpm-dev" CC="cc -nostdinc"
plain_make "gcc" CC="$TMP/no-such-cc"
missing=$(tools/vtpm_manager/migration/deps.sh --build)
[ -z "$missing" ]
result "this machine lacks no build package (deps.sh --build)" $? "$missing"

# ---- make demo -----------------------------------------------------------
start=$SECONDS
timeout 120 make -s demo >"$TMP/demo" 2>&1
st=$?
[ "$st" -eq 0 ] && [ "$(tail -n 1 "$TMP/demo" | cut -d' ' -f1-2)" = "DEMO PASSED" ] &&
	! grep -q ' != ' "$TMP/demo"
result "make demo passes ($((SECONDS - start)) s)" $? "exit $st: $(tail -n 3 "$TMP/demo" | tr '\n' '|')"

echo "readme: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
