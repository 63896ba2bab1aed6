#!/usr/bin/env bash
# A throwaway Redis server on 127.0.0.1 for the tests and the benchmark.
#
#   scripts/redis.sh start DIR   start redis-server on a free loopback port with
#                                its data, log and pid in DIR (created), a random
#                                password and the recommended persistence
#                                (append-only file, fsync on every write);
#                                prints its URL (redis://:PASSWORD@127.0.0.1:PORT/0);
#                                it also listens with TLS on a second port
#                                (certificate for 127.0.0.1 from a throwaway
#                                authority, DIR/ca.crt), URL in DIR/tls.url
#   scripts/redis.sh stop DIR    stop the server started in DIR (no error if none)
#
# redis-server comes from the system packages (scripts/setup.sh installs it).
set -euo pipefail

usage() {
    echo "usage: scripts/redis.sh start DIR | stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
dir=$2

case $1 in
start)
    command -v redis-server >/dev/null || {
        echo "redis.sh: redis-server not found; run scripts/setup.sh" >&2
        exit 1
    }
    mkdir -p "$dir"
    chmod 700 "$dir"
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    # A throwaway certificate authority and a server certificate for 127.0.0.1.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=chipi-session-test-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/server.ext"
    openssl x509 -req -days 2 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))
        tls_port=$((20000 + RANDOM % 40000))
        [ "$tls_port" != "$port" ] || continue
        # The password goes through the config file, not the command line.
        cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
port $port
tls-port $tls_port
tls-cert-file $dir/server.crt
tls-key-file $dir/server.key
tls-ca-cert-file $dir/ca.crt
tls-auth-clients no
dir $dir
requirepass $password
appendonly yes
appendfsync always
save ""
daemonize no
logfile $dir/redis.log
pidfile $dir/redis.pid
EOF
        chmod 600 "$dir/redis.conf"
        redis-server "$dir/redis.conf" </dev/null >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break # port taken: try another
            fi
            if REDISCLI_AUTH=$password redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                echo "$pid" >"$dir/server.pid"
                echo "rediss://:$password@127.0.0.1:$tls_port/0" >"$dir/tls.url"
                echo "redis://:$password@127.0.0.1:$port/0"
                exit 0
            fi
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "redis.sh: could not start redis-server (see $dir/redis.log)" >&2
    exit 1
    ;;
stop)
    if [ -f "$dir/server.pid" ]; then
        pid=$(cat "$dir/server.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/server.pid"
    fi
    ;;
*)
    usage
    ;;
esac
