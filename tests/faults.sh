#!/usr/bin/env bash
# The fault suite: five real nodes on five hosts (network namespaces on one bridge), then
# faults a real network has, and what the federation does through them.
#
#   sudo tests/faults.sh [path/to/maillage]     (default: target/release/maillage)
#
# Needs root, iproute2, nftables and libfaketime (Debian: iproute2 nftables faketime).
# Steps, each with its time:
#   1. h5's clock is an hour behind: it holds what it gets, says so, loses nothing, and
#      converges once its clock is set right;
#   2. h3 loses 10 % of its packets in and out: the federation converges anyway;
#   3. h4 is cut off (its link down), records are written meanwhile, it comes back and
#      catches up;
#   4. h2 is blackholed (every packet dropped, no reset): h1 notices within a minute (pings)
#      and flags it; once the hole is gone they reconnect and converge.
set -euo pipefail

BIN=$(realpath "${1:-target/release/maillage}")
[ -x "$BIN" ] || { echo "no maillage binary at $BIN: cargo build --release -p maillage-node" >&2; exit 2; }
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$FAKETIME_LIB" ] || { echo "libfaketime is missing: apt-get install faketime" >&2; exit 2; }
command -v nft >/dev/null || { echo "nft is missing: apt-get install nftables" >&2; exit 2; }

WORK=$(mktemp -d)
HOSTS=(h1 h2 h3 h4 h5)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for h in "${HOSTS[@]}"; do
    ip netns del "mf-$h" 2>/dev/null || true
    ip link del "mf-$h" 2>/dev/null || true
  done
  ip link del mf-br 2>/dev/null || true
  echo "logs and data: $WORK"
}
trap cleanup EXIT

ip link add mf-br type bridge && ip link set mf-br up
for i in "${!HOSTS[@]}"; do
  h=${HOSTS[$i]}
  ip netns add "mf-$h"
  ip link add "mf-$h" type veth peer name eth0 netns "mf-$h"
  ip link set "mf-$h" master mf-br up
  ip -n "mf-$h" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "mf-$h" link set eth0 up
  ip -n "mf-$h" link set lo up
done

ip_of() { echo "10.77.0.$(( ${1#h} ))"; }
url() { echo "http://$(ip_of "$1"):7701$2"; }
in_host() { local h=$1; shift; ip netns exec "mf-$h" "$@"; }
get() { in_host "$1" curl -sf --max-time 5 "$(url "$1" "$2")"; }
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1], {'v': v}))" "$1"; }

start() { # host [env...]
  local h=$1; shift
  local args=(run --data-dir "$WORK/$h" --http "$(ip_of "$h"):7701" --listen "/ip4/$(ip_of "$h")/tcp/7700" --sync-interval 5)
  [ "$h" = h1 ] || args+=(--bootstrap "/ip4/$(ip_of h1)/tcp/7700")
  [ "$h" = h4 ] && args+=(--bootstrap "/ip4/$(ip_of h3)/tcp/7700")
  # The node's own pid, not that of the wrapper that enters the namespace.
  in_host "$h" bash -c 'echo $$ > "$0.pid"; exec "$@"' "$WORK/$h" env "$@" MAILLAGE_LOG=maillage=info "$BIN" "${args[@]}" >>"$WORK/$h.log" 2>&1 &
  for _ in $(seq 50); do [ -s "$WORK/$h.pid" ] && break; sleep 0.1; done
  PIDS+=("$(cat "$WORK/$h.pid")")
  eval "PID_$h=$(cat "$WORK/$h.pid")"
  rm "$WORK/$h.pid"
  for _ in $(seq 100); do get "$h" /health >/dev/null 2>&1 && return; sleep 0.2; done
  echo "$h did not start: $(tail -5 "$WORK/$h.log")" >&2; exit 1
}

write() { # host prefix count
  local token; token=$(cat "$WORK/$1/api.token")
  for i in $(seq "$3"); do
    in_host "$1" curl -sf --max-time 10 -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"kind\":\"organisation\",\"id\":\"$2-$i\",\"body\":{\"name\":\"$2 $i\"}}" "$(url "$1" /api/v1/records)"
  done
}

digest() { get "$1" /api/v1/status | field 'v["state_digest"] + " " + str(v["versions"])'; }

converge() { # versions hosts... ; prints the seconds it took
  local want=$1; shift
  local start=$SECONDS
  while true; do
    local first="" same=1
    for h in "$@"; do
      local d; d=$(digest "$h" 2>/dev/null || echo "down")
      [ -z "$first" ] && first=$d
      [ "$d" = "$first" ] || same=0
    done
    if [ $same = 1 ] && [ "${first#* }" = "$want" ]; then echo $((SECONDS - start)); return; fi
    if (( SECONDS - start > 180 )); then echo "no convergence on $want versions: $(for h in "$@"; do echo "$h $(digest "$h" || true)"; done)" >&2; exit 1; fi
    sleep 1
  done
}

for h in h1 h2 h3 h4; do start "$h"; done
start h5 LD_PRELOAD="$FAKETIME_LIB" FAKETIME=-1h FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1
echo "five hosts up"

# 1. Skew.
write h1 skew 20
t=$(converge 20 h1 h2 h3 h4)
held=$(get h5 /api/v1/status | field 'v["clock"]["held_from_the_future"]')
warning=$(get h5 /api/v1/status | field 'v["clock"]["warning"]')
echo "skew: h1-h4 converged in ${t}s; h5 (an hour behind) holds $held records; it says: $warning"
[ "$held" -ge 20 ] || { echo "h5 does not hold what is ahead" >&2; exit 1; }
stop() { local pid; pid=$(eval echo "\$PID_$1"); kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; }
stop h5
start h5
t=$(converge 20 h1 h2 h3 h4 h5)
echo "skew: h5 with its clock set right converged in ${t}s"

# 2. Loss.
in_host h3 nft -f - <<'EOF'
table inet faults {
  chain input { type filter hook input priority 0; numgen random mod 10 < 1 drop; }
  chain output { type filter hook output priority 0; numgen random mod 10 < 1 drop; }
}
EOF
write h2 loss 20
t=$(converge 40 h1 h2 h3 h4 h5)
in_host h3 nft delete table inet faults
echo "loss: with 10 % of h3's packets dropped, converged in ${t}s"

# 3. A cut.
ip link set mf-h4 down
write h1 cut 20
sleep 5
ip link set mf-h4 up
t=$(converge 60 h1 h2 h3 h4 h5)
echo "cut: h4, cut off while 20 records were written, caught up ${t}s after its link came back"

# 4. A blackhole that keeps TCP up.
in_host h2 nft -f - <<'EOF'
table inet hole {
  chain input { type filter hook input priority 0; drop; }
  chain output { type filter hook output priority 0; drop; }
}
EOF
start_hole=$SECONDS
while get h1 /api/v1/status | field 'any(p["peer_id"] and p["address"].startswith("/ip4/10.77.0.2/") for p in v["peer_list"])' | grep -q True; do
  (( SECONDS - start_hole > 120 )) && { echo "h1 still lists h2 after 120 s of blackhole" >&2; exit 1; }
  sleep 1
done
echo "blackhole: h1 let go of h2 after $((SECONDS - start_hole))s"
write h1 hole 10
in_host h2 nft delete table inet hole
t=$(converge 70 h1 h2 h3 h4 h5)
echo "blackhole: once it was gone, converged in ${t}s"
echo "all faults passed"
