#!/bin/bash
# Checks of the documentation: the man page is clean pod, renders with
# man -l without warnings, documents every command and option of the built
# vtpm_migrate, and its standalone example runs as written against a real
# swtpm; the admin guide names every xend-config option and every command;
# the docs that go into a Xen tree name none of this project's own files;
# the guide quotes the tools' lines as they print them.
# Ends with "docs: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
MANPAGE=${1:-build/vtpm_migrate.8}
POD=man/vtpm_migrate.8.pod
GUIDE=misc/vtpm-migration.txt
FRAGMENT=../tools/examples/xend-config-vtpm-migration.sxp
VM=${VTPM_MIGRATE:-../tools/vtpm_manager/migration/build/vtpm_migrate}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=SCRIPTDIR/../../tests/lib/result.sh
. ../tests/lib/result.sh

podchecker -warnings -warnings "$POD" >"$TMP/pod" 2>&1
st=$?
grep -q 'WARNING\|ERROR' "$TMP/pod" && st=1
result "pod has no errors or warnings" "$st" "$(grep 'WARNING\|ERROR' "$TMP/pod" | head -3)"

MANPAGER=cat PAGER=cat MANWIDTH=80 man --warnings -l "$MANPAGE" >"$TMP/man.txt" 2>"$TMP/man.err"
st=$?
[ -s "$TMP/man.err" ] && st=1
result "man -l renders it without warnings" "$st" "$(head -3 "$TMP/man.err")"
grep -q 'vtpm_migrate - move a guest' "$TMP/man.txt"
result "rendered page has its NAME line" $?

if [ -x "$VM" ]; then
	"$VM" --help >"$TMP/usage" 2>&1
	missing=
	while read -r cmd; do
		grep -q "^B<vtpm_migrate $cmd>" "$POD" && grep -q "^=item B<$cmd>" "$POD" ||
			missing="$missing $cmd"
	done < <(awk '{ for (i = 1; i < NF; i++) if ($i == "vtpm_migrate") print $(i + 1) }' "$TMP/usage" | sort -u)
	while read -r opt; do
		grep -q -- "B<$opt>" "$POD" || missing="$missing $opt"
	done < <(grep -o -- '--[a-z-]*\|-[dn] ' "$TMP/usage" | tr -d ' ' | sort -u)
	[ -z "$missing" ]
	result "man page documents every command and option of vtpm_migrate --help" $? "missing:$missing"
else
	result "man page checked against vtpm_migrate --help" 1 "no $VM (build it first)"
fi

missing=
while read -r opt; do
	grep -q -- "($opt " "$GUIDE" || missing="$missing $opt"
done < <(grep -o '(vtpm-migration[a-z-]*' "$FRAGMENT" | tr -d '(' | sort -u)
[ -z "$missing" ]
result "guide names every xend-config option" $? "missing:$missing"

# The man page's standalone example runs as written, against a real swtpm:
# the verbatim block after "=for comment docs-test: run this example".
awk '/^=for comment docs-test: run this example/ { on = 1; next }
	on && /^[^ \t]/ { exit }
	on { sub(/^  /, ""); print }' "$POD" >"$TMP/example.sh"
if [ ! -s "$TMP/example.sh" ]; then
	result "man page example runs as written" 1 "no example marked for the docs test"
elif [ ! -x "$VM" ] || ! command -v swtpm >/dev/null || ! command -v swtpm_ioctl >/dev/null; then
	result "man page example runs as written" 1 "needs $VM (build it first), swtpm and swtpm_ioctl"
else
	bindir=$(cd "$(dirname "$VM")" && pwd)
	(cd "$TMP" && env PATH="$bindir:$PATH" \
		timeout 60 bash -e example.sh) >"$TMP/example.out" 2>&1
	st=$?
	grep -q '^left-host  *no$' "$TMP/example.out" &&
		grep -q '^last-accepted  *1$' "$TMP/example.out" || st=1
	result "man page example runs as written" "$st" "$(tail -3 "$TMP/example.out" | tr '\n' '|')"
fi

missing=
for cmd in keygen pubkey trust peers untrust send recv recover finish inspect status ledger-rebuild; do
	grep -q "vtpm_migrate $cmd" "$GUIDE" || missing="$missing $cmd"
done
[ -z "$missing" ]
result "guide names every command" $? "missing:$missing"

# Section 6 quotes the tools' lines as they print them (20.2: line for line).
python3 tests/guide-quotes.py "$GUIDE" ../tools/vtpm_manager/migration \
	../tools/python/xen/xend/server/vtpm_migration.py >"$TMP/quotes" 2>&1
result "guide quotes vtpm_migrate's and xend's lines as printed" $? "$(grep -v checked "$TMP/quotes" | head -3 | tr '\n' '|')"

# The guide, the record format and the man pages go into a Xen tree: they
# name none of this project's own files, and every doc of ours they name is
# one the patch adds (docs/man/NAME.pod.8 there is man/NAME.8.pod here).
SHIPPED=(misc/*.txt man/*.pod)
grep -n -E 'CONTRACT\.md|SECURITY\.md|README\.md|make (bench|demo|check-xen)|apply-to-xen-tree|tools/apply|tests/(e2e|shim|tools|xen|lib)/|deps\.sh' \
	"${SHIPPED[@]}" >"$TMP/project-refs"
[ ! -s "$TMP/project-refs" ]
result "shipped docs name nothing a Xen tree lacks" $? "$(head -3 "$TMP/project-refs" | tr '\n' '|')"

missing=
while read -r ref; do
	case $ref in
	docs/man/*.pod.*) f=man/$(basename "$ref" | sed -E 's/\.pod\.([0-9])$/.\1.pod/') ;;
	*) f=${ref#docs/} ;;
	esac
	[ -f "$f" ] || missing="$missing $ref"
done < <(grep -h -o -E 'docs/(misc|man|specs)/vtpm[A-Za-z0-9_.-]*[A-Za-z0-9]' "${SHIPPED[@]}" | sort -u)
[ -z "$missing" ]
result "every doc of ours the shipped docs name is in docs/" $? "missing:$missing"

echo "docs: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
