#!/usr/bin/env bash
# A throwaway Redis server on 127.0.0.1 for the tests and the benchmark.
#
#   scripts/redis.sh start DIR   start redis-server on a free loopback port with
#                                its data, log and pid in DIR (created), a random
#                                password and the recommended persistence
#                                (append-only file, fsync on every write);
#                                prints its URL (redis://:PASSWORD@127.0.0.1:PORT/0)
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
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))
        # The password goes through the config file, not the command line.
        cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
port $port
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
