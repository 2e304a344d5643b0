#!/usr/bin/env bash
# One measured run of the end-to-end benchmark against one server, in a
# fresh temporary folder: a counting sink (crload sink), the server relaying
# to it, and crload send driving CONNS connections that send MESSAGES
# tagged ISO-2022-JP rejection mails of about SIZE octets from
# hr@acme.example. bench/e2e.sh calls it for each run; it can be run alone:
#
#   bench/run.sh careerrelay            # CONNS=20 MESSAGES=2000
#   CONNS=1 MESSAGES=500 bench/run.sh postfix
#   CONNS=10 MESSAGES=10 RCPTS=100 SIZE=256000 bench/run.sh careerrelay
#
# SERVER is careerrelay (bin/careerrelay, RSA-2048 DKIM key, relay mode,
# its durable store) or postfix (a private Postfix with an OpenDKIM milter
# and an RSA-2048 key, bench/peer-postfix.sh; needs root).
#
# Environment: CONNS (20), MESSAGES (2000), SIZE (10240), RCPTS (recipients
# of each message, 1; the sink then expects MESSAGES x RCPTS copies), WORKERS
# (careerrelay's delivery.workers, 16 = its default), DELIVERY_TIMEOUT
# (seconds after the load for the last delivery, 120), BENCH_TMP (parent of
# the temporary folder, default $TMPDIR or /tmp: it holds the queues, which
# are fsynced, so put it on the disk you want to measure), KEEP=1 keeps the
# folder, RSS_EVERY (seconds between memory samples, 0.5). It uses
# bin/careerrelay and bin/crload as they are (bench/e2e.sh builds them).
#
# Prints "key: value" lines on standard output (server, conns, messages,
# rcpts, message_bytes, accepted, errors, delivered (copies),
# accepted_msg_per_s,
# delivered_msg_per_s, sink_msg_per_s, latency_p50_ms, latency_p99_ms,
# peak_rss_mb, processes, pss_end_mb, cpu_ms_per_msg (the server's user
# and system CPU time from the start of the load to the last delivery,
# children reaped included, divided by the copies delivered),
# alloc_kb_per_msg (careerrelay: the kB its Go runtime allocated over the
# same span, from go_memstats_alloc_bytes_total on /metrics, divided by the
# copies delivered; "-" for Postfix),
# store_growth_mb (careerrelay: growth
# of careerrelay.db, which never shrinks, plus the spool folder at its
# largest), dkim), progress on standard error. Exit status:
# 0, or 1 when the run failed (a message refused, a delivery missing, the
# delivered mail not signed, the server not starting), 2 on bad usage.
set -euo pipefail

SERVER=${1:-}
case $SERVER in
careerrelay | postfix) ;;
*)
	echo "usage: $0 careerrelay|postfix   (env: CONNS MESSAGES SIZE ...)" >&2
	exit 2
	;;
esac
CONNS=${CONNS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-10240}
RCPTS=${RCPTS:-1}
COPIES=$((MESSAGES * RCPTS))
WORKERS=${WORKERS:-16}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-120}
RSS_EVERY=${RSS_EVERY:-0.5}

root=$(cd "$(dirname "$0")/.." && pwd)
CR=$root/bin/careerrelay
CL=$root/bin/crload
for b in "$CR" "$CL"; do
	if [ ! -x "$b" ]; then
		echo "$b is missing: run bench/e2e.sh, or go build -o $b ./cmd/$(basename "$b")" >&2
		exit 1
	fi
done
# shellcheck source=bench/peer-postfix.sh
. "$root/bench/peer-postfix.sh"

work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/careerrelay-bench.XXXXXX")
sink_pid=""
relay_pid=""
sampler_pid=""
cleanup() {
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null && wait "$sampler_pid" 2>/dev/null || true
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
	peer_postfix_stop
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "$SERVER run failed: $*" >&2
	exit 1
}

sink_addr=127.0.0.1:$("$CL" freeport)
"$CL" sink -listen "$sink_addr" -expect "$COPIES" -save-first "$work/first.eml" >"$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
"$CL" waitport -addr "$sink_addr" -timeout 10s || fail "the sink did not start"

# The server, and the key record its signatures verify with.
case $SERVER in
careerrelay)
	mapfile -t ports < <("$CL" freeport -n 2)
	smtp_addr=127.0.0.1:${ports[0]}
	http_addr=127.0.0.1:${ports[1]}
	selector=cr2026
	mkdir -p "$work/secrets" "$work/keys"
	head -c 32 /dev/urandom | base64 >"$work/secrets/link.key"
	"$CR" dkim-keygen -domain acme.example -selector $selector -algo rsa -bits 2048 \
		-out "$work/keys/acme-rsa.pem" >"$work/keys/acme-rsa.txt"
	record=$(grep -o '"[^"]*"' "$work/keys/acme-rsa.txt" | tr -d '"\n\t')
	cat >"$work/careerrelay.yaml" <<YAML
data_dir: data
log:
  level: warn
smtp:
  listen: "$smtp_addr"
  hostname: relay.bench.localhost
  allow_networks: [127.0.0.0/8]
  max_connections_per_client: 1000
http:
  listen: "$http_addr"
delivery:
  mode: relay
  relay:
    address: "$sink_addr"
    tls: none
  workers: $WORKERS
  hello_name: relay.bench.localhost
links:
  base_url: https://careers.acme.example
  keys:
    - {id: "k1", secret_file: secrets/link.key}
agency:
  name: Example Career Agency
  registration_url: https://agency.example/register
tenants:
  - id: acme
    name: 株式会社アクメ
    domains: [acme.example]
    dkim:
      - {selector: $selector, key_file: keys/acme-rsa.pem}
YAML
	"$CR" check-config -config "$work/careerrelay.yaml" >/dev/null || fail "check-config"
	"$CR" serve -config "$work/careerrelay.yaml" 2>"$work/careerrelay.log" &
	relay_pid=$!
	if ! "$CL" waitport -addr "$smtp_addr" -timeout 30s || ! "$CL" waitport -addr "$http_addr" -timeout 30s; then
		cat "$work/careerrelay.log" >&2
		fail "careerrelay did not start"
	fi
	server_pids() { echo "$relay_pid"; }
	;;
postfix)
	if ! why=$(peer_postfix_check); then
		fail "the peer cannot run here: $why"
	fi
	# Postfix's daemons (the postfix user) must reach its folders.
	chmod 755 "$work"
	mkdir "$work/peer"
	peer_postfix_start "$work/peer" "$sink_addr" || fail "Postfix + OpenDKIM did not start"
	smtp_addr=$PF_ADDR
	selector=$PF_SELECTOR
	record=$PF_RECORD
	server_pids() { peer_postfix_pids; }
	;;
esac

# sum_proc FILE FIELD: FIELD (kB) of /proc/PID/FILE summed over the
# server's processes, and how many were read.
sum_proc() {
	local files
	files=$(server_pids | sed "s|.*|/proc/&/$1|")
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086 # one word a file
	cat $files 2>/dev/null | awk -v f="$2:" '$1 == f {s += $2; n++} END {printf "%d %d\n", s, n}'
}
sample_rss() { sum_proc status VmHWM; }
# cpu_ticks: the CPU time (user + system, clock ticks) the server has used
# so far: each live process's own, plus what its children that have exited
# used (cutime, cstime: Postfix's master reaps its smtpd, cleanup and smtp
# processes, so their time is counted even when they are gone).
cpu_ticks() {
	local files
	files=$(server_pids | sed "s|.*|/proc/&/stat|")
	[ -n "$files" ] || { echo 0; return 0; }
	# Fields after the command name (which may hold spaces, in parentheses):
	# utime, stime, cutime, cstime are the 12th to 15th.
	# shellcheck disable=SC2086 # one word a file
	cat $files 2>/dev/null | sed 's/^.*) //' | awk '{s += $12 + $13 + $14 + $15} END {printf "%d\n", s}'
}
clk_tck=$(getconf CLK_TCK)
# alloc_bytes: what careerrelay's Go runtime has allocated since it started
# (go_memstats_alloc_bytes_total on /metrics); empty for Postfix.
alloc_bytes() {
	[ "$SERVER" = careerrelay ] || return 0
	"$CL" metric -url "http://$http_addr/metrics" -name go_memstats_alloc_bytes_total 2>/dev/null |
		awk '{printf "%.0f\n", $1}'
}
# store_kb: the size of careerrelay's store (database file and spool
# folder) in kB; 0 for Postfix.
store_kb() {
	if [ "$SERVER" = careerrelay ] && [ -d "$work/data" ]; then
		du -sk "$work/data" 2>/dev/null | awk '{print $1}'
	else
		echo 0
	fi
}
store_start=$(store_kb)

# Memory: every RSS_EVERY seconds, the sum of the peak resident set
# (VmHWM) of the server's processes alive then; the largest sum is the
# peak. For careerrelay (one process) that is its VmHWM; for Postfix the
# master, its daemons (smtpd, cleanup, qmgr, smtp, ...) and opendkim.
(
	while :; do
		sample_rss || true
		store_kb >>"$work/store.samples"
		sleep "$RSS_EVERY"
	done
) >"$work/rss.samples" &
sampler_pid=$!

cpu_start=$(cpu_ticks)
alloc_start=$(alloc_bytes)
echo "$SERVER: sending $MESSAGES messages to $RCPTS recipient(s) each over $CONNS connections to $smtp_addr ..." >&2
send_rc=0
"$CL" send -addr "$smtp_addr" -conns "$CONNS" -messages "$MESSAGES" -rcpts "$RCPTS" -size "$SIZE" \
	-from hr@acme.example -rcpt-domain cand.example -tag '[[career-relay]]' >"$work/send.out" || send_rc=$?

# Wait for the sink to exit (it does once every copy arrived).
delivered_ok=1
for ((i = 0; i < DELIVERY_TIMEOUT * 10; i++)); do
	kill -0 "$sink_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$sink_pid" 2>/dev/null; then
	delivered_ok=0
	kill -TERM "$sink_pid" 2>/dev/null || true # makes it print what it counted
fi
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

# A last sample while everything still runs, then stop the sampler.
cpu_end=$(cpu_ticks)
alloc_end=$(alloc_bytes)
sample_rss >>"$work/rss.samples" || true
store_kb >>"$work/store.samples"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
read -r rss_kb procs < <(sort -n "$work/rss.samples" | tail -1) || true
store_peak=$(sort -n "$work/store.samples" | tail -1)
# The proportional set size (shared pages divided among the processes
# sharing them) summed now, at the end: for Postfix, whose daemons share
# their libraries, a fairer total than the sum of the peaks.
read -r pss_kb _ < <(sum_proc smaps_rollup Pss) || true

if [ "$SERVER" = postfix ]; then
	cp "$PF_DIR/postfix.log" "$work/postfix.log" 2>/dev/null || true
	peer_postfix_stop
else
	kill -TERM "$relay_pid" 2>/dev/null || true
	wait "$relay_pid" 2>/dev/null || true
	relay_pid=""
fi

get() { awk -v k="$1:" '$1 == k {print $2; exit}' "$2"; }
accepted=$(get accepted "$work/send.out")
errors=$(get errors "$work/send.out")
delivered=$(get messages "$work/sink.out")
start=$(get start "$work/send.out")
last=$(get last "$work/sink.out")
# Delivered msg/s: messages at the sink over the time from the start of the
# load to the last one's arrival (both clocks are this machine's).
delivered_rate=0
if [ -n "$start" ] && [ -n "$last" ] && [ "${delivered:-0}" -gt 0 ]; then
	delivered_rate=$(awk -v n="$delivered" -v a="$(date -d "$start" +%s.%N)" -v b="$(date -d "$last" +%s.%N)" \
		'BEGIN {d = b - a; if (d > 0) printf "%.1f", n / d; else print 0}')
fi

# What the sink got must be signed: a DKIM-Signature of acme.example with
# rsa-sha256 and the server's selector; verified by python3-dkim where it
# is installed. careerrelay's must also carry the personal link.
dkim="missing"
if [ -s "$work/first.eml" ]; then
	sig=$(awk '/^DKIM-Signature:/ {on = 1; printf "%s", $0; next}
		on && /^[ \t]/ {printf "%s", $0; next}
		{if (on) exit}' "$work/first.eml" | tr -d ' \t\r')
	if [[ $sig =~ [:\;]a=rsa-sha256(\;|$) && $sig =~ [:\;]d=acme\.example(\;|$) &&
		$sig =~ [:\;]s=$selector(\;|$) && $sig =~ [:\;]b=[A-Za-z0-9+/] ]]; then
		dkim="present (a=rsa-sha256 d=acme.example s=$selector)"
		verifier=$root/smtp/dkim/testdata/dkimverify.py
		# The first python3 that imports dkim, as internal/dkimtest looks
		# (a pyenv or virtualenv python3 does not see the Debian package).
		py=""
		for p in ${DKIMTEST_PYTHON:-} python3 /usr/bin/python3; do
			if command -v "$p" >/dev/null && "$p" -c 'import dkim' 2>/dev/null; then
				py=$p
				break
			fi
		done
		if [ -f "$verifier" ] && [ -n "$py" ]; then
			printf '{"%s._domainkey.acme.example": "%s"}\n' "$selector" "$record" >"$work/records.json"
			if "$py" "$verifier" "$work/records.json" "$work/first.eml" >"$work/dkimverify.out" 2>&1; then
				dkim="verified by python3-dkim (a=rsa-sha256 d=acme.example s=$selector)"
			else
				cat "$work/dkimverify.out" >&2
				dkim="fails verification"
				send_rc=1
			fi
		fi
	else
		echo "the first delivered mail has no DKIM-Signature a=rsa-sha256 d=acme.example s=$selector" >&2
		send_rc=1
	fi
	if [ "$SERVER" = careerrelay ]; then
		grep -q 'https://careers.acme.example/c/' "$work/first.eml" ||
			{ echo "the delivered mail has no personal link" >&2; send_rc=1; }
		grep -qF '[[career-relay]]' "$work/first.eml" &&
			{ echo "the delivered mail still has the raw tag" >&2; send_rc=1; }
	fi
else
	echo "the sink saved no message" >&2
	send_rc=1
fi

cat <<EOF
server: $SERVER
conns: $CONNS
messages: $MESSAGES
rcpts: $RCPTS
message_bytes: $(get message_bytes "$work/send.out")
accepted: ${accepted:-0}
errors: ${errors:-?}
delivered: ${delivered:-0}
accepted_msg_per_s: $(get accepted_msg_per_s "$work/send.out")
delivered_msg_per_s: $delivered_rate
sink_msg_per_s: $(get delivered_msg_per_s "$work/sink.out")
latency_p50_ms: $(get latency_p50_ms "$work/send.out")
latency_p99_ms: $(get latency_p99_ms "$work/send.out")
peak_rss_mb: $(awk -v k="${rss_kb:-0}" 'BEGIN {printf "%.1f", k / 1024}')
processes: ${procs:-0}
pss_end_mb: $(awk -v k="${pss_kb:-0}" 'BEGIN {printf "%.1f", k / 1024}')
store_growth_mb: $(awk -v a="${store_start:-0}" -v b="${store_peak:-0}" 'BEGIN {printf "%.1f", (b - a) / 1024}')
cpu_ms_per_msg: $(awk -v a="${cpu_start:-0}" -v b="${cpu_end:-0}" -v t="$clk_tck" -v n="${delivered:-0}" 'BEGIN {if (n > 0) printf "%.2f", (b - a) * 1000 / t / n; else print "-"}')
alloc_kb_per_msg: $(awk -v a="${alloc_start:-}" -v b="${alloc_end:-}" -v n="${delivered:-0}" 'BEGIN {if (a != "" && b != "" && n > 0) printf "%.1f", (b - a) / 1024 / n; else print "-"}')
dkim: $dkim
EOF

if [ "$send_rc" != 0 ]; then
	fe=$(sed -n 's/^first_error: //p' "$work/send.out")
	[ -n "$fe" ] && echo "first error: $fe" >&2
	if [ "$SERVER" = postfix ]; then
		grep -E 'warning|error|fatal|panic|reject' "$work/postfix.log" 2>/dev/null | tail -5 >&2 || true
	else
		tail -5 "$work/careerrelay.log" >&2 || true
	fi
	fail "refused messages or a wrong delivered mail (accepted ${accepted:-0} of $MESSAGES)"
fi
if [ "$delivered_ok" != 1 ]; then
	fail "the sink got ${delivered:-0} of $COPIES copies within ${DELIVERY_TIMEOUT}s"
fi
exit 0
