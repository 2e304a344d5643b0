#!/usr/bin/env bash
# The peer of the end-to-end benchmark: a private Postfix instance with an
# OpenDKIM milter signing with an RSA-2048 key, relaying everything to a
# sink (relayhost). Nothing of the system's Postfix or OpenDKIM is used or
# started: the configuration, queue, data, keys and mail log are in a folder
# of their own, the master and opendkim run in the foreground as children of
# the calling shell, on free ports of 127.0.0.1.
#
# Sourced by bench/run.sh, which calls
#   peer_postfix_check            why the peer cannot run here (exit 1), if so
#   peer_postfix_start DIR SINK   start it in DIR, relaying to SINK (HOST:PORT);
#                                 sets PF_ADDR (its smtpd), PF_RECORD (the TXT
#                                 record of its key) and the pids
#   peer_postfix_pids             every process of the peer, one pid a line
#   peer_postfix_stop             stop it (also when only half started)
#
# Run directly, it starts the peer relaying to SINK and waits for Ctrl-C:
#   bench/peer-postfix.sh 127.0.0.1:2526   (as root; the folder is printed)
#
# Every setting that differs from the defaults of Postfix and OpenDKIM is
# listed, with its reason, in docs/performance.md ("The peer"): keep the two
# in step.

PF_SELECTOR=${PF_SELECTOR:-pf2026}
PF_DOMAIN=acme.example
PF_DIR=""
PF_ADDR=""
# The services of master.cf, shared with the integration tests.
PF_MASTER_CF=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/integration/testdata/postfix-master.cf
PF_RECORD=""
PF_MASTER_PID=""
PF_DKIM_PID=""
PF_KEYDIR=""

peer_postfix_dirs() {
	# -d: the compiled-in defaults, which need no /etc/postfix/main.cf.
	local out
	out=$(postconf -d -h command_directory daemon_directory 2>/dev/null) || return 1
	read -r -d '' PF_COMMAND_DIR PF_DAEMON_DIR <<<"$out" || true
	[ -n "$PF_COMMAND_DIR" ] && [ -n "$PF_DAEMON_DIR" ]
}

peer_postfix_check() {
	if [ "$(id -u)" != 0 ]; then
		echo "not root: Postfix's master runs as root (its daemons as the postfix user)"
		return 1
	fi
	if ! command -v postconf >/dev/null || ! peer_postfix_dirs || [ ! -x "$PF_DAEMON_DIR/master" ]; then
		echo "Postfix is not installed (Debian: postfix)"
		return 1
	fi
	if ! command -v opendkim >/dev/null || ! command -v opendkim-genkey >/dev/null; then
		echo "OpenDKIM is not installed (Debian: opendkim opendkim-tools)"
		return 1
	fi
	local u
	for u in postfix opendkim; do
		if ! id "$u" >/dev/null 2>&1; then
			echo "there is no $u user"
			return 1
		fi
	done
	if ! getent group postdrop >/dev/null; then
		echo "there is no postdrop group"
		return 1
	fi
	return 0
}

# peer_postfix_start DIR SINK_ADDR
peer_postfix_start() {
	local dir=$1 sink=$2 ports smtp_port milter_port sink_host sink_port
	# shellcheck disable=SC2034 # read by bench/run.sh
	PF_DIR=$dir
	peer_postfix_dirs || return 1
	mapfile -t ports < <("$CL" freeport -n 2)
	smtp_port=${ports[0]}
	milter_port=${ports[1]}
	PF_ADDR=127.0.0.1:$smtp_port
	sink_host=${sink%:*}
	sink_port=${sink##*:}

	# The daemons run as the postfix and opendkim users and must reach
	# their folders; mktemp made dir 0700.
	chmod 755 "$dir"
	mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
	chown postfix:postfix "$dir/data"

	# OpenDKIM: RSA-2048 key, signing mail from acme.example that comes
	# from an internal host (127.0.0.1, the client Postfix reports).
	# OpenDKIM refuses a configuration file or key with a folder above it
	# that others may write to, sticky bit or not (/tmp): those two go in
	# a folder of root's under PF_SAFE_DIR (/run), read as root before
	# opendkim becomes the opendkim user.
	PF_KEYDIR=$(mktemp -d "${PF_SAFE_DIR:-/run}/careerrelay-bench-dkim.XXXXXX") || return 1
	local kd=$PF_KEYDIR socket milter
	opendkim-genkey -b 2048 -d "$PF_DOMAIN" -s "$PF_SELECTOR" -D "$kd" || return 1
	chmod 600 "$kd/$PF_SELECTOR.private"
	# The TXT record: the quoted strings of opendkim-genkey's zone line.
	PF_RECORD=$(grep -o '"[^"]*"' "$kd/$PF_SELECTOR.txt" | tr -d '"\n\t')
	# The milter socket. unix (the default, as in Debian's opendkim.conf):
	# in a folder only the opendkim user and the postfix group reach. inet:
	# TCP on 127.0.0.1, which costs Postfix about 85 ms a message here
	# (docs/performance.md, "The peer").
	case ${PF_MILTER:-unix} in
	unix)
		chmod 711 "$kd"
		mkdir "$kd/sock"
		chown opendkim:postfix "$kd/sock"
		chmod 750 "$kd/sock"
		socket=local:$kd/sock/opendkim.sock
		milter=unix:$kd/sock/opendkim.sock
		;;
	inet)
		socket=inet:$milter_port@127.0.0.1
		milter=inet:127.0.0.1:$milter_port
		;;
	*)
		echo "PF_MILTER must be unix or inet, not ${PF_MILTER}" >&2
		return 1
		;;
	esac
	cat >"$kd/opendkim.conf" <<EOF
# OpenDKIM for the benchmark; every line here differs from the defaults
# or makes one explicit (docs/performance.md).
Mode                    s
Domain                  $PF_DOMAIN
Selector                $PF_SELECTOR
KeyFile                 $kd/$PF_SELECTOR.private
Canonicalization        relaxed/relaxed
SignatureAlgorithm      rsa-sha256
InternalHosts           127.0.0.0/8
Socket                  $socket
UMask                   000
UserID                  opendkim
Syslog                  no
Background              no
EOF
	chmod 600 "$kd/opendkim.conf"
	opendkim -f -x "$kd/opendkim.conf" >"$dir/opendkim.log" 2>&1 &
	PF_DKIM_PID=$!
	local i up=0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$PF_DKIM_PID" 2>/dev/null || break
		case $socket in
		local:*) [ -S "${socket#local:}" ] && up=1 ;;
		inet:*) "$CL" waitport -addr "127.0.0.1:$milter_port" -timeout 100ms 2>/dev/null && up=1 ;;
		esac
		[ "$up" = 1 ] && break
		sleep 0.1
	done
	if [ "$up" != 1 ]; then
		echo "opendkim did not start ($socket):" >&2
		cat "$dir/opendkim.log" >&2
		return 1
	fi

	cat >"$dir/conf/main.cf" <<EOF
# Postfix for the benchmark; the defaults otherwise (docs/performance.md).
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
myhostname = mta.bench.localhost
mydomain = $PF_DOMAIN
myorigin = \$mydomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [$sink_host]:$sink_port
smtp_tls_security_level = none
smtpd_milters = $milter
milter_default_action = tempfail
EOF
	# master.cf: smtpd on the free port instead of port 25, then the
	# services the integration tests' Postfix also uses.
	{
		echo "$PF_ADDR inet n - n - - smtpd"
		cat "$PF_MASTER_CF"
	} >"$dir/conf/master.cf"
	# postfix check: the configuration is sane, and the queue's folders
	# are made with their owners and modes.
	if ! "$PF_COMMAND_DIR/postfix" -c "$dir/conf" check >"$dir/check.log" 2>&1; then
		echo "postfix -c $dir/conf check failed:" >&2
		cat "$dir/check.log" >&2
		return 1
	fi
	# The master without -w stays in the foreground (it only makes itself
	# a session leader, so its daemons share its session id).
	MAIL_CONFIG=$dir/conf "$PF_DAEMON_DIR/master" -c "$dir/conf" >"$dir/master.log" 2>&1 &
	PF_MASTER_PID=$!
	for ((i = 0; i < 300; i++)); do
		kill -0 "$PF_MASTER_PID" 2>/dev/null || break
		"$CL" waitport -addr "$PF_ADDR" -timeout 100ms 2>/dev/null && return 0
	done
	echo "postfix did not start (smtpd $PF_ADDR):" >&2
	cat "$dir/master.log" "$dir/postfix.log" >&2 2>/dev/null
	return 1
}

peer_postfix_pids() {
	[ -n "$PF_MASTER_PID" ] && pgrep -s "$PF_MASTER_PID"
	[ -n "$PF_DKIM_PID" ] && echo "$PF_DKIM_PID"
	return 0
}

# stop_pid PID NAME: SIGTERM, up to 10 s, then SIGKILL to its process group
# (the Postfix master leads its own).
stop_pid() {
	local pid=$1 name=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$name did not exit 10 s after SIGTERM; killing it" >&2
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
}

peer_postfix_stop() {
	if [ -n "$PF_MASTER_PID" ]; then
		stop_pid "$PF_MASTER_PID" "postfix master"
		PF_MASTER_PID=""
	fi
	if [ -n "$PF_DKIM_PID" ]; then
		stop_pid "$PF_DKIM_PID" opendkim
		PF_DKIM_PID=""
	fi
	if [ -n "$PF_KEYDIR" ]; then
		rm -rf "$PF_KEYDIR"
		PF_KEYDIR=""
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	if [ $# != 1 ]; then
		echo "usage: $0 SINK_HOST:PORT   (as root)" >&2
		exit 2
	fi
	root=$(cd "$(dirname "$0")/.." && pwd)
	CL=$root/bin/crload
	[ -x "$CL" ] || go build -o "$CL" "$root/cmd/crload"
	if ! why=$(peer_postfix_check); then
		echo "the peer cannot run here: $why" >&2
		exit 1
	fi
	dir=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/careerrelay-peer.XXXXXX")
	trap 'peer_postfix_stop; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	peer_postfix_start "$dir" "$1"
	echo "Postfix + OpenDKIM listening on $PF_ADDR, relaying to $1, in $dir" >&2
	echo "DKIM record: $PF_SELECTOR._domainkey.$PF_DOMAIN TXT \"$PF_RECORD\"" >&2
	echo "Ctrl-C stops it." >&2
	wait "$PF_MASTER_PID"
fi
