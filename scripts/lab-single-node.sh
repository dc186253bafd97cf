#!/usr/bin/env bash
# A smaller lab than scripts/lab.sh: sets up (packages, build), brings up network namespaces
# with a client, an anylb node (anylb-dataplane on net_af_packet over a veth
# whose kernel side has no address, like a NIC bound to DPDK) and three HTTP
# backends holding the VIPs on lo (L2 direct server return), then narrates a
# demo and tears everything down, also when interrupted.
#
#   ./scripts/lab-single-node.sh            run the demo, then tear down
#   ./scripts/lab-single-node.sh --stay     keep the lab up after the demo until Ctrl-C
#
# Today the lab has one node and no BGP: the client routes the VIPs to the
# node's address, which the node's kernel answers for (ARP/ND) through the
# dataplane's exception interface.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stay=false
[ "${1:-}" = "--stay" ] && stay=true

./scripts/setup.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
# Quiet unless it fails: then the compiler's errors, not just an exit code.
meson compile -C build > build/compile.log 2>&1 || { tail -n 40 build/compile.log; echo "build failed (build/compile.log)"; exit 1; }

P=anylb-lab                       # namespace prefix
NODE_MAC=02:00:00:00:00:01
VIP4=203.0.113.10
VIP6=2001:db8::10
NODE4=198.18.0.1
NODE6=2001:db8:0:1::1
CLIENT4=198.18.0.100
CLIENT6=2001:db8:0:1::100
work=$(mktemp -d /tmp/anylb-lab.XXXXXX)
pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns() { ip netns exec "$P-$1" "${@:2}"; }

teardown() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for n in client node lan be1 be2 be3; do ip netns del "$P-$n" 2>/dev/null; done
  rm -rf "$work" "/var/run/dpdk/$P-$$"
}
trap teardown EXIT
trap 'exit 130' INT TERM

say "Building the lab in network namespaces ($P-*)"
for n in lan client node be1 be2 be3; do ip netns add "$P-$n"; done
ns lan ip link add br0 type bridge
ns lan ip link set br0 up
# attach NAME MAC: a veth from namespace NAME into the LAN bridge
attach() {
  ip link add "$1" netns "$P-$1" address "$2" type veth peer name "p-$1" netns "$P-lan"
  ns lan ip link set "p-$1" master br0 up
  ns "$1" ip link set "$1" up
  ns "$1" ip link set lo up
}
attach client 02:00:00:00:00:64
attach node "$NODE_MAC"
for i in 1 2 3; do attach "be$i" "02:00:00:00:0b:0$i"; done
ns node sysctl -qw net.ipv6.conf.node.disable_ipv6=1   # the kernel keeps its hands off the DPDK port

# veth leaves TCP checksums to "hardware"; over af_packet they would reach
# the dataplane unfilled. A real NIC's peers send finished packets.
ns client ethtool -K client tx off >/dev/null
ns client ip addr add "$CLIENT4/24" dev client
ns client ip -6 addr add "$CLIENT6/64" dev client nodad
ns client ip route add "$VIP4/32" via "$NODE4"
ns client ip -6 route add "$VIP6/128" via "$NODE6"

for i in 1 2 3; do
  b="be$i"
  ns "$b" ip addr add "198.18.0.1$i/24" dev "$b"
  ns "$b" ip -6 addr add "2001:db8:0:1::1$i/64" dev "$b" nodad
  ns "$b" ip addr add "$VIP4/32" dev lo
  ns "$b" ip -6 addr add "$VIP6/128" dev lo
  # DSR: hold the VIP without answering ARP for it or using it as an ARP source.
  ns "$b" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  # Started without a subshell in between, so $! is the daemon itself.
  ip netns exec "$P-$b" setsid /usr/bin/python3 "$root/lab/backend_http.py" "backend-$i" 80 \
    </dev/null >"$work/$b.log" 2>&1 &
  pids+=($!)
done

cat > "$work/dataplane.conf" <<CONF
node-address = $NODE4
node-address = $NODE6
service = name=web vip=$VIP4 proto=tcp port=80 mode=l2-dsr
service = name=web6 vip=$VIP6 proto=tcp port=80 mode=l2-dsr
CONF
backends() {  # backends STATE1 STATE2 STATE3
  for i in 1 2 3; do
    echo "backend = service=web address=198.18.0.1$i mac=02:00:00:00:0b:0$i state=${!i}"
    echo "backend = service=web6 address=2001:db8:0:1::1$i mac=02:00:00:00:0b:0$i state=${!i}"
  done
}
write_config() { { grep -v '^backend' "$work/dataplane.conf"; backends "$@"; } > "$work/new.conf"; mv "$work/new.conf" "$work/dataplane.conf"; }
write_config up up up

say "Starting anylb-dataplane on net_af_packet (iface 'node', no kernel address)"
ip netns exec "$P-node" setsid "$root/build/dataplane/dpdk/anylb-dataplane" --config "$work/dataplane.conf" \
  --eal "--lcores=0@0,1@1 --no-huge -m 512 --no-pci --no-telemetry --file-prefix $P-$$ --vdev=net_af_packet0,iface=node" \
  --mbufs 8192 --flow-capacity 65536 --counters-file "$work/counters.json" --stats-interval 0.2 \
  --api-socket "$work/api.sock" --state-file "$work/state.json" \
  --exception-interface exc0 </dev/null > "$work/dataplane.log" 2>&1 &
dp=$!
pids+=($dp)
for _ in $(seq 100); do [ -s "$work/counters.json" ] && break; sleep 0.1; done
[ -s "$work/counters.json" ] || { cat "$work/dataplane.log"; echo "dataplane did not start"; exit 1; }
# The node's own addresses live on the exception interface: the kernel answers
# ARP/ND (and ping) for them through the DPDK port.
ns node ip addr add "$NODE4/24" dev exc0
ns node ip -6 addr add "$NODE6/64" dev exc0 nodad
ns node ip link set exc0 up
ns client ping -c1 -W2 "$NODE4" | sed -n 2p | sed 's/^/   client -> node (ARP and ping through the exception path): /' 
grep -E "port|applied|worker" "$work/dataplane.log" | sed 's/^/   /'

requests() {  # requests VIP COUNT: one new TCP connection per request
  local url=$1 n=$2
  for i in $(seq "$n"); do
    ns client curl -s --max-time 2 --local-port $((20000 + RANDOM % 20000)) "$url" || echo "(no answer)"
  done | sort | uniq -c | sed 's/^/   /'
}
counters() {
  /usr/bin/python3 - "$work/counters.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for b in c["backends"]:
    print(f"   {b['service']:5} {b['address']:22} {b['state']:9} new flows {b['new_flows']:4}  packets {b['packets']}")
drops = {k: v for k, v in c["drops"].items() if v}
print(f"   exception path: {c['exception_packets']} to the kernel, {c['from_kernel_packets']} from it")
print(f"   drops: {drops or 'none'}")
PY
}

say "12 requests to http://$VIP4/ (each a new connection: Maglev spreads them)"
requests "http://$VIP4/" 12
say "12 requests to http://[$VIP6]/"
requests "http://[$VIP6]/" 12
say "Counters (per backend, from the dataplane)"
counters

say "Every backend down (config file + SIGHUP): drops counted as no_backend"
write_config down down down
kill -HUP "$dp"; sleep 0.5
requests "http://$VIP4/" 2
counters

say "All back up (SIGHUP with the original configuration)"
write_config up up up
kill -HUP "$dp"; sleep 0.5
requests "http://$VIP4/" 6

ctl() { echo "   \$ anylbctl $*"; "$root/build/grpc/anylbctl/anylbctl" --dataplane "$work/api.sock" "$@" | sed 's/^/   /'; }

say "The operator's view (anylbctl over the dataplane's gRPC API)"
ctl service list
ctl trace 198.18.0.100:40000 $VIP4:80 tcp

say "anylbctl backend disable web 198.18.0.12: only backend-2's flows move"
ctl backend disable web 198.18.0.12
ctl trace 198.18.0.100:40000 $VIP4:80 tcp
requests "http://$VIP4/" 12

say "Draining backend-3: it keeps existing flows, takes no new ones"
ctl backend drain web 198.18.0.13
requests "http://$VIP4/" 12

say "Once the API has changed the state it owns it: a SIGHUP is refused, not applied"
refusals() { grep -c 'reload ignored, generation [0-9]* stays' "$work/dataplane.log" || true; }
before=$(refusals)
kill -HUP "$dp"
for _ in $(seq 50); do [ "$(refusals)" -gt "$before" ] && break; sleep 0.1; done
# A SIGHUP applied over what the API changed would be a bug, not a detail of the demo.
if [ "$(refusals)" -le "$before" ]; then
  tail -n 20 "$work/dataplane.log"
  echo "FAILED: no refusal of the SIGHUP logged within 5 s" >&2
  exit 1
fi
grep -o 'reload ignored, generation [0-9]* stays' "$work/dataplane.log" | tail -1 | sed 's/^/   /'
ctl stats --interval 0.5

if $stay; then
  say "Lab is up: try 'ip netns exec $P-client curl http://$VIP4/'. Ctrl-C tears it down."
  wait "$dp"
fi
say "Tearing down"
