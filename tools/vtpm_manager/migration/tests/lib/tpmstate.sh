# shellcheck shell=bash
#
# Put recognisable state into a vTPM and read it back as deterministic text.
# DIR is an instance directory with the layout of CONTRACT.md (data socket
# DIR/data, control socket DIR/data.ctrl). Source after fixtures.sh (or on
# its own; then VTPM_TEST_BIN defaults like there).
#
# TPM 2.0 (tpm2-tools over TPM2TOOLS_TCTI=swtpm:path=DIR/data):
#   tpm2_populate DIR               PCRs in every active bank, NV index
#                                   0x01500001, persistent key 0x81000001 and
#                                   a loaded transient signing key (its handle
#                                   in DIR/tpm2-loaded.handle)
#   tpm2_populate_nv_bytes DIR N    N bytes of NV data in indexes 0x01500100..
#                                   (N = max: until NV is full); sets
#                                   TPM2_NV_BYTES to the bytes stored
#   tpm2_snapshot DIR OUTFILE       PCRs, NV data, persistent key names and,
#                                   for each loaded key, its name and "sign ok"
#                                   if a signature by it verifies
# TPM 1.2 (raw commands through $VTPM_TEST_BIN/tools/tpm12_raw):
#   tpm12_populate DIR              extends several PCRs
#   tpm12_snapshot DIR OUTFILE      PCR 0..23
#
# The same state gives byte-identical snapshots; a fresh TPM a different one.
# Every function returns non-zero with one line on stderr if the TPM does not
# answer or a step fails.

if [ -z "${VTPM_TEST_BIN:-}" ]; then
	VTPM_TEST_BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build
	export VTPM_TEST_BIN
fi

TPMSTATE_TIMEOUT=${TPMSTATE_TIMEOUT:-30}
TPM2_NV_MARKER=0x01500001
TPM2_NV_BULK_BASE=0x01500100
TPM2_PERSISTENT=0x81000001
TPM2_NV_BYTES=0

# A private scratch directory for one call; removed by the caller.
_ts_scratch() {
	mktemp -d "${FX_DIR:-${TMPDIR:-/tmp}}/tpmstate.XXXXXX"
}

# _ts_t2 DIR LOG CMD [ARGS...]: one tpm2-tools command against DIR's TPM,
# stderr to LOG, bounded in time. --foreground keeps the tool in the test's
# process group, so a signal ending the test reaches it too.
_ts_t2() {
	local dir=$1 log=$2
	shift 2
	TPM2TOOLS_TCTI="swtpm:path=$dir/data" \
		timeout --foreground "$TPMSTATE_TIMEOUT" "$@" 2>>"$log"
}

# _ts_err FUNC WHAT LOG: one line saying what failed, with the tool's last word.
_ts_err() {
	local last=
	[ -s "$3" ] && last=$(grep -v '^WARNING' "$3" | tail -n 1)
	echo "$1: $2 failed${last:+: $last}" >&2
}

# Hash helpers: hex digest of a string.
_ts_hash() { printf '%s' "$2" | "${1}sum" | cut -d' ' -f1; }

# Active PCR banks (those with at least one PCR selected).
_ts_banks() {
	local dir=$1 log=$2
	_ts_t2 "$dir" "$log" tpm2_getcap pcrs |
		sed -n 's/^ *- \([a-z0-9_]*\): \[ *\([0-9]\).*/\1/p'
}

# _ts_with_scratch FUNC ARGS...: run FUNC ARGS... SCRATCHDIR, then remove it.
_ts_with_scratch() {
	local s rc
	s=$(_ts_scratch) || { echo "$1: cannot create a scratch directory" >&2; return 1; }
	"$@" "$s"
	rc=$?
	rm -rf "$s"
	return "$rc"
}

tpm2_populate() { _ts_with_scratch _ts_tpm2_populate "$1"; }
tpm2_populate_nv_bytes() { _ts_with_scratch _ts_tpm2_populate_nv_bytes "$1" "$2"; }
tpm2_snapshot() { _ts_with_scratch _ts_tpm2_snapshot "$1" "$2"; }

_ts_tpm2_populate() {
	local dir=$1 s=$2 log banks bank pcr spec h
	log="$s/log"

	banks=$(_ts_banks "$dir" "$log")
	if [ -z "$banks" ]; then
		_ts_err tpm2_populate "reading the PCR banks" "$log"
		return 1
	fi
	if ! printf '%s\n' "$banks" | grep -qx sha1 ||
		! printf '%s\n' "$banks" | grep -qx sha256; then
		echo "tpm2_populate: sha1 and sha256 banks are not both active: ${banks//$'\n'/ }" >&2
		return 1
	fi
	for pcr in 0 1 2 7 10 16 23; do
		spec=
		for bank in $banks; do
			case $bank in
			sha1 | sha256 | sha384 | sha512) ;;
			*) continue ;;
			esac
			spec="$spec${spec:+,}$bank=$(_ts_hash "$bank" "vtpm-e2e pcr $pcr $bank")"
		done
		_ts_t2 "$dir" "$log" tpm2_pcrextend "$pcr:$spec" ||
			{ _ts_err tpm2_populate "extending PCR $pcr" "$log"; return 1; }
	done

	printf '%-64.64s' "vtpm-e2e NV marker $TPM2_NV_MARKER: recognisable data" >"$s/nv"
	if ! { _ts_t2 "$dir" "$log" tpm2_nvdefine "$TPM2_NV_MARKER" -C o -s 64 \
		-a "ownerread|ownerwrite" >/dev/null &&
		_ts_t2 "$dir" "$log" tpm2_nvwrite "$TPM2_NV_MARKER" -C o -i "$s/nv"; }; then
		_ts_err tpm2_populate "writing NV index $TPM2_NV_MARKER" "$log"
		return 1
	fi

	# libtpms has 3 object slots and there is no resource manager: flush.
	if ! { _ts_t2 "$dir" "$log" tpm2_createprimary -C o -g sha256 -G ecc \
		-c "$s/primary.ctx" >/dev/null &&
		_ts_t2 "$dir" "$log" tpm2_evictcontrol -C o -c "$s/primary.ctx" \
			"$TPM2_PERSISTENT" >/dev/null &&
		_ts_t2 "$dir" "$log" tpm2_flushcontext -t; }; then
		_ts_err tpm2_populate "making the persistent key $TPM2_PERSISTENT" "$log"
		return 1
	fi

	if ! { mkdir -p "$dir/tpm2-objects" &&
		_ts_t2 "$dir" "$log" tpm2_create -C "$TPM2_PERSISTENT" -G ecc -g sha256 \
			-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" \
			-u "$dir/tpm2-objects/key.pub" -r "$dir/tpm2-objects/key.priv" >/dev/null &&
		_ts_t2 "$dir" "$log" tpm2_flushcontext -t &&
		_ts_t2 "$dir" "$log" tpm2_load -C "$TPM2_PERSISTENT" \
			-u "$dir/tpm2-objects/key.pub" -r "$dir/tpm2-objects/key.priv" \
			-c "$s/key.ctx" >/dev/null; }; then
		_ts_err tpm2_populate "creating and loading the transient key" "$log"
		return 1
	fi
	h=$(_ts_t2 "$dir" "$log" tpm2_getcap handles-transient | sed -n 's/^- //p')
	if [ "$(printf '%s\n' "$h" | grep -c .)" != 1 ]; then
		echo "tpm2_populate: expected one loaded transient object, found: ${h:-none}" >&2
		return 1
	fi
	printf '%s\n' "$h" >"$dir/tpm2-loaded.handle"
	return 0
}

_ts_tpm2_populate_nv_bytes() {
	local dir=$1 want=$2 s=$3 log max chunk i=0 h left
	TPM2_NV_BYTES=0
	case $want in
	max) left=-1 ;;
	'' | *[!0-9]*) echo "tpm2_populate_nv_bytes: bad size '$want'" >&2; return 1 ;;
	*) left=$want ;;
	esac
	log="$s/log"
	max=$(_ts_t2 "$dir" "$log" tpm2_getcap properties-fixed |
		sed -n '/TPM2_PT_NV_INDEX_MAX:/{n;s/.*raw: *//p;}')
	if [ -z "$max" ]; then
		_ts_err tpm2_populate_nv_bytes "reading TPM2_PT_NV_INDEX_MAX" "$log"
		return 1
	fi
	max=$((max))
	while [ "$left" != 0 ]; do
		chunk=$max
		if [ "$left" -gt 0 ] && [ "$left" -lt "$chunk" ]; then
			chunk=$left
		fi
		h=$(printf '0x%08x' $((TPM2_NV_BULK_BASE + i)))
		: >"$log"
		if ! _ts_t2 "$dir" "$log" tpm2_nvdefine "$h" -C o -s "$chunk" \
			-a "ownerread|ownerwrite" >/dev/null; then
			if [ "$want" = max ] && grep -qiE '0x14b|NV_SPACE|no more space|0x902' "$log"; then
				# NV full: try smaller indexes to use the rest.
				if [ "$chunk" -gt 64 ]; then
					max=$((chunk / 2))
					continue
				fi
				break
			fi
			_ts_err tpm2_populate_nv_bytes "defining NV index $h ($chunk bytes)" "$log"
			return 1
		fi
		# Deterministic, incompressible data: AES-CTR keystream per index.
		if ! { head -c "$chunk" /dev/zero |
			openssl enc -aes-128-ctr -nosalt \
				-K "$(printf '%032x' $((i + 1)))" -iv 0 -out "$s/data" 2>>"$log" &&
			_ts_t2 "$dir" "$log" tpm2_nvwrite "$h" -C o -i "$s/data"; }; then
			_ts_err tpm2_populate_nv_bytes "writing NV index $h" "$log"
			return 1
		fi
		TPM2_NV_BYTES=$((TPM2_NV_BYTES + chunk))
		[ "$left" -gt 0 ] && left=$((left - chunk))
		i=$((i + 1))
	done
	return 0
}

_ts_tpm2_snapshot() {
	local dir=$1 out=$2 s=$3 log h size attrs data
	log="$s/log"
	printf '%032d' 0 | tr 0 '\245' >"$s/digest" # 32 fixed bytes (0xa5)
	{
		echo "# TPM 2.0 snapshot"
		echo "## PCRs"
		_ts_t2 "$dir" "$log" tpm2_pcrread ||
			{ _ts_err tpm2_snapshot "reading the PCRs" "$log"; return 1; }

		echo "## NV indexes"
		# One call for the public areas of all indexes: "handle size attributes".
		_ts_t2 "$dir" "$log" tpm2_nvreadpublic >"$s/nvpub" ||
			{ _ts_err tpm2_snapshot "reading the NV public areas" "$log"; return 1; }
		awk '/^0x[0-9a-fA-F]+:$/ { if (h != "") print h, size, attrs
				h = substr($1, 1, length($1) - 1); size = ""; attrs = ""; ina = 0; next }
			/^ *attributes:/ { ina = 1; next }
			ina && /^ *friendly:/ { attrs = $2; ina = 0; next }
			/^ *size:/ { size = $2 }
			END { if (h != "") print h, size, attrs }' "$s/nvpub" >"$s/nvlist"
		while read -r h size attrs <&3; do
			case "|$attrs|" in
			*"|written|"*)
				_ts_t2 "$dir" "$log" tpm2_nvread "$h" -C o -s "$size" -o "$s/nvdata" ||
					_ts_t2 "$dir" "$log" tpm2_nvread "$h" -C "$h" -s "$size" -o "$s/nvdata" ||
					{ _ts_err tpm2_snapshot "reading NV $h" "$log"; return 1; }
				if [ "$size" -le 64 ]; then
					data=$(xxd -p -c 256 "$s/nvdata")
				else
					data="sha256:$(sha256sum <"$s/nvdata" | cut -d' ' -f1)"
				fi
				echo "nv $h size $size attributes $attrs data $data"
				;;
			*) echo "nv $h size $size attributes $attrs (not written)" ;;
			esac
		done 3<"$s/nvlist"

		echo "## persistent objects"
		for h in $(_ts_t2 "$dir" "$log" tpm2_getcap handles-persistent | sed -n 's/^- //p'); do
			_ts_t2 "$dir" "$log" tpm2_readpublic -c "$h" -n "$s/name" >/dev/null ||
				{ _ts_err tpm2_snapshot "reading persistent $h" "$log"; return 1; }
			echo "persistent $h name $(xxd -p -c 256 "$s/name")"
		done

		echo "## loaded transient objects"
		for h in $(_ts_t2 "$dir" "$log" tpm2_getcap handles-transient | sed -n 's/^- //p'); do
			rm -f "$s/name" "$s/key.pem" "$s/sig"
			_ts_t2 "$dir" "$log" tpm2_readpublic -c "$h" -n "$s/name" \
				-f pem -o "$s/key.pem" >"$s/pub" ||
				{ _ts_err tpm2_snapshot "reading transient $h" "$log"; return 1; }
			printf 'transient %s name %s ' "$h" "$(xxd -p -c 256 "$s/name")"
			attrs=$(sed -n '/^attributes:/{n;s/^ *value: *//p;}' "$s/pub" | head -n 1)
			case "|$attrs|" in
			*"|sign|"*) ;;
			*) echo "not a signing key"; continue ;;
			esac
			if _ts_t2 "$dir" "$log" tpm2_sign -c "$h" -g sha256 -d -f plain \
				-o "$s/sig" "$s/digest" &&
				openssl pkeyutl -verify -pubin -inkey "$s/key.pem" \
					-in "$s/digest" -sigfile "$s/sig" >/dev/null 2>>"$log"; then
				echo "sign ok"
			else
				echo "sign FAILED"
			fi
		done
	} >"$out"
}

# ---- TPM 1.2 ----

_ts_tpm12_raw() {
	local tool="$VTPM_TEST_BIN/tools/tpm12_raw"
	if [ ! -x "$tool" ]; then
		echo "tpm12: missing $tool (run make all first)" >&2
		return 1
	fi
	"$tool" "$@"
}

tpm12_populate() {
	local dir=$1 pcr
	for pcr in 0 1 4 7 10 15 16 23; do
		_ts_tpm12_raw "$dir/data" extend "$pcr" \
			"$(_ts_hash sha1 "vtpm-e2e tpm12 pcr $pcr")" >/dev/null ||
			{ echo "tpm12_populate: extending PCR $pcr failed" >&2; return 1; }
	done
	# A second extend of one PCR, so the value depends on the order too.
	_ts_tpm12_raw "$dir/data" extend 10 "$(_ts_hash sha1 "vtpm-e2e tpm12 again")" >/dev/null ||
		{ echo "tpm12_populate: extending PCR 10 failed" >&2; return 1; }
	return 0
}

tpm12_snapshot() {
	local dir=$1 out=$2 pcr v
	{
		echo "# TPM 1.2 snapshot"
		for pcr in $(seq 0 23); do
			v=$(_ts_tpm12_raw "$dir/data" read "$pcr") ||
				{ echo "tpm12_snapshot: reading PCR $pcr failed" >&2; return 1; }
			echo "pcr $pcr: $v"
		done
	} >"$out"
}
