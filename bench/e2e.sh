#!/usr/bin/env bash
# End-to-end load benchmark (issue 7): careerrelay with an RSA-2048 DKIM key
# and its durable store, delivering in relay mode to a counting sink, driven
# by CONNS concurrent SMTP connections sending MESSAGES tagged ISO-2022-JP
# rejection mails of about SIZE octets.
#
#   bench/e2e.sh                          # CONNS=20 MESSAGES=2000
#   CONNS=1 MESSAGES=300 bench/e2e.sh
#
# Environment:
#   CONNS (20), MESSAGES (2000), SIZE (10240), WORKERS (careerrelay's
#   delivery.workers, 16 = its default), BENCH_TMP (parent folder of the
#   temporary folder, default $TMPDIR or /tmp: put it on the disk you want
#   to measure, since the store fsyncs), KEEP=1 keeps the temporary folder,
#   GO (go).
# Prints a summary block; exits non-zero if a message was refused or the
# sink did not receive every message within DELIVERY_TIMEOUT seconds (120).
set -euo pipefail

CONNS=${CONNS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-10240}
WORKERS=${WORKERS:-16}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-120}
GO=${GO:-go}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p bin
echo "building bin/careerrelay and bin/crload ..." >&2
"$GO" build -o bin/careerrelay ./cmd/careerrelay
"$GO" build -o bin/crload ./cmd/crload
CR=$root/bin/careerrelay
CL=$root/bin/crload

work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/careerrelay-bench.XXXXXX")
sink_pid=""
relay_pid=""
cleanup() {
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

mapfile -t ports < <("$CL" freeport -n 2)
sink_addr=127.0.0.1:${ports[0]}
smtp_addr=127.0.0.1:${ports[1]}

# Secrets and the tenant's RSA-2048 DKIM key.
mkdir -p "$work/secrets" "$work/keys"
head -c 32 /dev/urandom | base64 >"$work/secrets/link.key"
"$CR" dkim-keygen -domain acme.example -selector cr2026 -algo rsa -bits 2048 \
	-out "$work/keys/acme-rsa.pem" >"$work/keys/acme-rsa.txt"

cat >"$work/careerrelay.yaml" <<YAML
data_dir: data
log:
  level: warn
smtp:
  listen: "$smtp_addr"
  hostname: relay.bench.localhost
  allow_networks: [127.0.0.0/8]
  max_connections_per_client: 1000
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
      - {selector: cr2026, key_file: keys/acme-rsa.pem}
YAML
"$CR" check-config -config "$work/careerrelay.yaml" >&2

"$CL" sink -listen "$sink_addr" -expect "$MESSAGES" -save-first "$work/first.eml" >"$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
"$CL" waitport -addr "$sink_addr" -timeout 10s

"$CR" serve -config "$work/careerrelay.yaml" 2>"$work/careerrelay.log" &
relay_pid=$!
if ! "$CL" waitport -addr "$smtp_addr" -timeout 30s; then
	cat "$work/careerrelay.log" >&2
	exit 1
fi

echo "sending $MESSAGES messages over $CONNS connections to $smtp_addr ..." >&2
send_rc=0
"$CL" send -addr "$smtp_addr" -conns "$CONNS" -messages "$MESSAGES" -size "$SIZE" \
	-from hr@acme.example -rcpt-domain cand.example -tag '[[career-relay]]' >"$work/send.out" || send_rc=$?

# Wait for the sink to exit (it does once MESSAGES arrived).
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

# careerrelay's peak resident set (high-water mark), read while it runs.
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$relay_pid/status" 2>/dev/null || echo 0)

kill -TERM "$relay_pid" 2>/dev/null || true
wait "$relay_pid" 2>/dev/null || true
relay_pid=""

get() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }
accepted=$(get accepted "$work/send.out")
errors=$(get errors "$work/send.out")
delivered=$(get messages "$work/sink.out")

echo
echo "== careerrelay end-to-end benchmark"
printf '%-22s %s\n' \
	"connections" "$CONNS" \
	"messages" "$MESSAGES" \
	"message size (B)" "$(get message_bytes "$work/send.out")" \
	"dkim" "RSA-2048 (acme.example, cr2026)" \
	"store" "bbolt, fsync ($(df -T "$work" | awk 'NR==2 {print $2}') at $work)" \
	"accepted" "$accepted (errors: $errors)" \
	"delivered" "$delivered" \
	"accepted msg/s" "$(get accepted_msg_per_s "$work/send.out")" \
	"delivered msg/s" "$(get delivered_msg_per_s "$work/sink.out")" \
	"DATA-to-250 p50 (ms)" "$(get latency_p50_ms "$work/send.out")" \
	"DATA-to-250 p99 (ms)" "$(get latency_p99_ms "$work/send.out")" \
	"peak RSS (MB)" "$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')"
# What the sink got must be what careerrelay is for: signed, with a link.
if [ -s "$work/first.eml" ]; then
	grep -q '^DKIM-Signature:.*a=rsa-sha256' "$work/first.eml" || grep -A3 '^DKIM-Signature:' "$work/first.eml" | grep -q 'a=rsa-sha256' ||
		{ echo "the delivered mail has no RSA DKIM signature" >&2; send_rc=1; }
	grep -q 'https://careers.acme.example/c/' "$work/first.eml" ||
		{ echo "the delivered mail has no personal link" >&2; send_rc=1; }
	grep -qF '[[career-relay]]' "$work/first.eml" &&
		{ echo "the delivered mail still has the raw tag" >&2; send_rc=1; }
fi
if [ "$send_rc" != 0 ]; then
	echo "first error: $(sed -n 's/^first_error: //p' "$work/send.out")" >&2
fi
if [ "$delivered_ok" != 1 ]; then
	echo "the sink got $delivered of $MESSAGES messages within ${DELIVERY_TIMEOUT}s" >&2
	exit 1
fi
exit "$send_rc"
