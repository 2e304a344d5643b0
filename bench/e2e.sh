#!/usr/bin/env bash
# End-to-end benchmark (issue 7): careerrelay against its peer, Postfix with
# an OpenDKIM milter, side by side in one run. Both DKIM-sign with an
# RSA-2048 key, queue durably (fsync) and relay to the same counting sink;
# crload sends both the same tagged ISO-2022-JP rejection mails. Runs
# alternate (careerrelay, postfix, careerrelay, postfix, ...), each on fresh
# instances, and the figures are the medians of ROUNDS runs. How to read
# them, and how the peer is configured: docs/performance.md.
#
#   bench/e2e.sh                              # everything, about 3 minutes
#   SCENARIOS=20 bench/e2e.sh                 # only 20 connections
#   SERVERS=careerrelay SCENARIOS="20 1" bench/e2e.sh
#   CONNS=1 MESSAGES=300 bench/e2e.sh         # one scenario of your own
#
# Scenarios (SCENARIOS, default "20 1 big fanout"):
#   20   20 connections, MESSAGES_20 (2000) messages of SIZE (10240) octets
#   1    1 connection, MESSAGES_1 (500) messages
#   N    N connections, MESSAGES_N or MESSAGES (2000) messages
#   big  careerrelay only: peak memory with BIG_CONNS (50) connections each
#        sending one of BIG_MESSAGES (50) messages of BIG_SIZE (10485760)
#   fanout careerrelay only: a mass rejection, FANOUT_CONNS (10) connections
#        each sending one of FANOUT_MESSAGES (10) messages of FANOUT_SIZE
#        (256000) octets to FANOUT_RCPTS (100) recipients: copies delivered
#        per second, peak RSS, and how much the store grew
# CONNS (with MESSAGES), as the first version of this script took them,
# is SCENARIOS=$CONNS.
#
# Environment: ROUNDS (3), SERVERS ("careerrelay postfix"; the peer needs
# root), MESSAGES (for every scenario without its MESSAGES_N), SIZE,
# WORKERS (careerrelay's delivery.workers, 16), PF_MILTER (unix or inet,
# the OpenDKIM socket, default unix), BENCH_TMP (where the queues go,
# default $TMPDIR or /tmp), INSTALL=0 (never apt-get the peer's packages),
# BUILD=0 (use bin/careerrelay and bin/crload as they are), RESULTS=FILE
# (also write the medians there as TSV), KEEP=1, GO (go).
#
# Prints the figures with the targets and PASS or FAIL for each. Exits 0
# even when a target is missed; 1 when a run failed (a message refused, a
# delivery missing, an unsigned delivered mail, a server that did not
# start), 2 on bad usage.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-careerrelay postfix}
if [ -z "${SCENARIOS:-}" ] && [ -n "${CONNS:-}" ]; then
	SCENARIOS=$CONNS
fi
SCENARIOS=${SCENARIOS:-20 1 big fanout}
SIZE=${SIZE:-10240}
BIG_CONNS=${BIG_CONNS:-50}
BIG_MESSAGES=${BIG_MESSAGES:-50}
BIG_SIZE=${BIG_SIZE:-10485760}
FANOUT_CONNS=${FANOUT_CONNS:-10}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-10}
FANOUT_RCPTS=${FANOUT_RCPTS:-100}
FANOUT_SIZE=${FANOUT_SIZE:-256000}
GO=${GO:-go}
export PF_MILTER=${PF_MILTER:-unix}

# The targets of issue 7, raised by issue 19.
TARGET_RATIO_20=3    # delivered msg/s, careerrelay / Postfix, 20 connections (issue 19)
TARGET_RATIO_1=2     # the same, 1 connection (issue 19)
TARGET_P99_20=50     # DATA-to-250 p99 (ms), careerrelay, 20 connections
TARGET_BIG_RSS=256   # peak RSS (MB), careerrelay, 50 x 10 MB at once
# The targets of issue 13: a message to many recipients is stored once.
TARGET_FANOUT_RSS=150   # peak RSS (MB), 10 x 250 KB to 100 recipients each
TARGET_FANOUT_GROWTH=5  # store growth / octets received

case $ROUNDS in '' | *[!0-9]* | 0)
	echo "ROUNDS must be a positive number" >&2
	exit 2
	;;
esac
for s in $SCENARIOS; do
	if [ "$s" != big ] && [ "$s" != fanout ] && ! [[ $s =~ ^[1-9][0-9]*$ ]]; then
		echo "unknown scenario '$s' (SCENARIOS: 20, 1, any number of connections, big, fanout)" >&2
		exit 2
	fi
done
for s in $SERVERS; do
	case $s in careerrelay | postfix) ;; *)
		echo "unknown server '$s' (SERVERS: careerrelay, postfix)" >&2
		exit 2
		;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
began=$(date +%s)

if [ "${BUILD:-1}" != 0 ]; then
	echo "building bin/careerrelay and bin/crload ..." >&2
	mkdir -p bin
	"$GO" build -o bin/careerrelay ./cmd/careerrelay
	"$GO" build -o bin/crload ./cmd/crload
fi
CL=$root/bin/crload
# shellcheck source=bench/peer-postfix.sh
. "$root/bench/peer-postfix.sh"

# The peer's Debian packages, installed as .ci/run installs its own: as
# root, with apt-get, and Postfix with no system configuration. The
# packages' services are not started (policy-rc.d) and never are: the
# benchmark runs its own instances.
install_peer() {
	local p missing=() policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
	for p in postfix opendkim opendkim-tools python3-dkim; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	if [ "${INSTALL:-1}" = 0 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		return 0 # peer_postfix_check says what is missing
	fi
	echo "installing ${missing[*]} with apt-get ..." >&2
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# bench/e2e.sh: do not start services while it installs packages\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq >&2 &&
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
	[ "$made_policy" = 1 ] && rm -f "$policy"
	[ "$rc" = 0 ] || echo "apt-get install ${missing[*]} failed (exit $rc)" >&2
	return 0
}

peer_note=""
have_peer=0
case " $SERVERS " in *" postfix "*)
	install_peer
	if why=$(peer_postfix_check); then
		have_peer=1
	else
		peer_note="Postfix + OpenDKIM skipped: $why"
		echo "$peer_note" >&2
		SERVERS=careerrelay
	fi
	;;
esac

results=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/careerrelay-e2e.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept the runs' results in $results" >&2; else rm -rf "$results"; fi; }
trap cleanup EXIT

get() { awk -v k="$1:" '$1 == k {sub(/^[^:]*: */, ""); print; exit}' "$2"; }

# median: the median of the numbers on standard input.
median() {
	sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# med SCENARIO SERVER KEY: the median of KEY over the scenario's runs.
med() {
	local f
	for f in "$results/$1.$2".*; do
		[ -f "$f" ] && get "$3" "$f"
	done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx\n", a / b}'; }
# verdict VALUE OP LIMIT: PASS or FAIL.
verdict() {
	awk -v v="${1%x}" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "-") {print "n/a"; exit}
		ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
		print ok ? "PASS" : "FAIL"}'
}

# target LABEL VALUE OP LIMIT SHOWN: one line with the verdict.
target() {
	local v
	v=$(verdict "$2" "$3" "$4")
	[ "$v" = n/a ] && [ "$have_peer" != 1 ] && v="n/a (no peer)"
	printf 'TARGET %-19s %12s   %-2s %-14s %s\n' "$1" "$2" "$3" "$5" "$v"
}

# cpu_busy SECONDS: how busy the CPUs are over SECONDS, in percent.
cpu_busy() {
	local a b
	a=$(awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6}' /proc/stat)
	sleep "$1"
	b=$(awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6}' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[1] - x[1]; i = y[2] - x[2]
		printf "%.0f\n", (t > 0 ? 100 * (t - i) / t : 0)}'
}

# run SCENARIO SERVER ROUND CONNS MESSAGES SIZE [RCPTS]: one run into the
# results.
run() {
	local out=$results/$1.$2.$3 others busy
	# Other work on this machine skews every figure: look how busy the
	# CPUs are just before the run, and for another checkout's crload
	# before and after it, and say so.
	busy=$(cpu_busy 0.5)
	others=$(pgrep -x crload | tr '\n' ' ') || true
	if ! CONNS=$4 MESSAGES=$5 SIZE=$6 RCPTS=${7:-1} bench/run.sh "$2" >"$out"; then
		echo >&2
		echo "FAILED: $2, scenario $1, round $3 (details above)" >&2
		exit 1
	fi
	printf '  round %d %-12s accepted %7s/s  delivered %7s/s  p50 %8s ms  p99 %8s ms  peak RSS %7s MB\n' \
		"$3" "$2" "$(get accepted_msg_per_s "$out")" "$(get delivered_msg_per_s "$out")" \
		"$(get latency_p50_ms "$out")" "$(get latency_p99_ms "$out")" "$(get peak_rss_mb "$out")"
	others=$({ echo "$others"; pgrep -x crload; } | tr ' ' '\n' | sort -un | paste -sd ' ' -) || true
	if [ -n "${others// /}" ]; then
		echo "  WARNING: another crload (pid ${others# }) ran beside round $3 of $2: its figures are skewed"
	fi
	if [ "$busy" -gt 10 ]; then
		echo "  WARNING: the CPUs were ${busy}% busy just before round $3 of $2: its figures are skewed"
	fi
}

tsv() { [ -n "${RESULTS:-}" ] && printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS" || true; }
[ -n "${RESULTS:-}" ] && printf 'scenario\tserver\tfigure\tmedian\n' >"$RESULTS"

# The header: what was measured, on what.
fs=$(df -T "$results" | awk 'NR == 2 {print $2}')
busy=$(cpu_busy 1)
echo
echo "== careerrelay vs Postfix + OpenDKIM, end to end ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-14s %s\n' \
	"host" "$(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr), CPUs ${busy}% busy in the second before the start" \
	"queues" "$fs at ${BENCH_TMP:-${TMPDIR:-/tmp}} (fsync)" \
	"careerrelay" "bin/careerrelay at $(git describe --always --dirty 2>/dev/null || echo '?'), delivery.workers ${WORKERS:-16}, RSA-2048 DKIM"
if [ "$busy" -gt 10 ]; then
	echo "WARNING: something else keeps the CPUs ${busy}% busy: the figures will be skewed"
fi
if [ "$have_peer" = 1 ]; then
	printf '%-14s %s\n' "peer" "Postfix $(postconf -d -h mail_version 2>/dev/null) + $(opendkim -V 2>/dev/null | awk 'NR == 1 {print $2, $NF}') (milter on a $PF_MILTER socket), RSA-2048 DKIM"
else
	printf '%-14s %s\n' "peer" "$peer_note"
fi
if [ "$(wc -w <<<"$SERVERS")" -gt 1 ]; then
	printf '%-14s %s\n' "runs" "$(tr ' ' '/' <<<"$SERVERS") alternating, fresh instances each, medians of $ROUNDS"
else
	printf '%-14s %s\n' "runs" "$SERVERS alone, fresh instances each, medians of $ROUNDS"
fi

for s in $SCENARIOS; do
	if [ "$s" = big ]; then
		echo
		echo "== careerrelay alone: $BIG_CONNS connections at once, $BIG_MESSAGES messages of $BIG_SIZE octets"
		for ((r = 1; r <= ROUNDS; r++)); do
			run big careerrelay "$r" "$BIG_CONNS" "$BIG_MESSAGES" "$BIG_SIZE"
		done
		rss=$(med big careerrelay peak_rss_mb)
		printf '%-26s %12s\n' "median of $ROUNDS" careerrelay
		printf '%-26s %12s\n' "accepted msg/s" "$(med big careerrelay accepted_msg_per_s)" \
			"delivered msg/s" "$(med big careerrelay delivered_msg_per_s)" \
			"DATA-to-250 p99 (ms)" "$(med big careerrelay latency_p99_ms)" \
			"peak RSS (MB)" "$rss"
		target "peak RSS (MB)" "$rss" "<=" "$TARGET_BIG_RSS" "$TARGET_BIG_RSS MB"
		tsv big careerrelay peak_rss_mb "$rss"
		continue
	fi
	if [ "$s" = fanout ]; then
		echo
		echo "== careerrelay alone: $FANOUT_CONNS connections at once, $FANOUT_MESSAGES messages of $FANOUT_SIZE octets to $FANOUT_RCPTS recipients each"
		for ((r = 1; r <= ROUNDS; r++)); do
			run fanout careerrelay "$r" "$FANOUT_CONNS" "$FANOUT_MESSAGES" "$FANOUT_SIZE" "$FANOUT_RCPTS"
		done
		rss=$(med fanout careerrelay peak_rss_mb)
		growth=$(med fanout careerrelay store_growth_mb)
		received=$(med fanout careerrelay message_bytes)
		times=$(awk -v g="$growth" -v b="$received" -v n="$FANOUT_MESSAGES" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2fx\n", g * 1048576 / (b * n)}')
		printf '%-26s %12s\n' "median of $ROUNDS" careerrelay
		printf '%-26s %12s\n' "accepted msg/s" "$(med fanout careerrelay accepted_msg_per_s)" \
			"copies delivered/s" "$(med fanout careerrelay delivered_msg_per_s)" \
			"DATA-to-250 p99 (ms)" "$(med fanout careerrelay latency_p99_ms)" \
			"peak RSS (MB)" "$rss" \
			"store growth (MB)" "$growth" \
			"growth / received" "$times"
		target "peak RSS (MB)" "$rss" "<=" "$TARGET_FANOUT_RSS" "$TARGET_FANOUT_RSS MB"
		target "store growth" "$times" "<=" "$TARGET_FANOUT_GROWTH" "${TARGET_FANOUT_GROWTH}x received"
		tsv fanout careerrelay peak_rss_mb "$rss"
		tsv fanout careerrelay delivered_msg_per_s "$(med fanout careerrelay delivered_msg_per_s)"
		tsv fanout careerrelay store_growth_mb "$growth"
		continue
	fi
	n=$s
	var=MESSAGES_$n
	case $n in 20) def=2000 ;; 1) def=500 ;; *) def=2000 ;; esac
	msgs=${!var:-${MESSAGES:-$def}}
	echo
	echo "== $n connection$([ "$n" = 1 ] || echo s), $msgs messages of about $SIZE octets"
	for ((r = 1; r <= ROUNDS; r++)); do
		for srv in $SERVERS; do
			run "c$n" "$srv" "$r" "$n" "$msgs" "$SIZE"
		done
	done
	printf '%-26s %12s %18s %8s\n' "median of $ROUNDS" careerrelay "postfix+opendkim" "cr/pf"
	for kv in "accepted msg/s:accepted_msg_per_s" "delivered msg/s:delivered_msg_per_s" \
		"DATA-to-250 p50 (ms):latency_p50_ms" "DATA-to-250 p99 (ms):latency_p99_ms" \
		"CPU per message (ms):cpu_ms_per_msg" "Go allocated per msg (kB):alloc_kb_per_msg" "peak RSS (MB):peak_rss_mb" "PSS at the end (MB):pss_end_mb"; do
		label=${kv%%:*}
		key=${kv#*:}
		a=$(med "c$n" careerrelay "$key")
		b=-
		[ "$have_peer" = 1 ] && b=$(med "c$n" postfix "$key")
		printf '%-26s %12s %18s %8s\n' "$label" "$a" "$b" "$(ratio "$a" "$b")"
		tsv "c$n" careerrelay "$key" "$a"
		[ "$have_peer" = 1 ] && tsv "c$n" postfix "$key" "$b"
	done
	echo "(cr/pf: higher is better for msg/s, lower for latency, CPU and memory; Postfix's CPU and RSS are the sums over its processes and opendkim's)"
	d=$(ratio "$(med "c$n" careerrelay delivered_msg_per_s)" "$([ "$have_peer" = 1 ] && med "c$n" postfix delivered_msg_per_s || echo -)")
	case $n in
	20)
		target "delivered cr/pf" "$d" ">=" "$TARGET_RATIO_20" "${TARGET_RATIO_20}x Postfix"
		target "DATA-to-250 p99 (ms)" "$(med c20 careerrelay latency_p99_ms)" "<=" "$TARGET_P99_20" "$TARGET_P99_20 ms"
		;;
	1)
		target "delivered cr/pf" "$d" ">=" "$TARGET_RATIO_1" "${TARGET_RATIO_1}x Postfix"
		;;
	esac
done

echo
echo "all runs succeeded in $(($(date +%s) - began)) s (targets are reported, not enforced)"
exit 0
