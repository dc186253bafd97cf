#!/usr/bin/env bash
# The built-in lab: sets up (packages, build), then brings up in network
# namespaces two anylb nodes behind a BIRD router with ECMP, three HTTP
# backends and a client, narrates a demo (requests spread, a backend killed,
# a node killed, every backend down and the VIP withdrawn, recovery after the
# hold-down) and tears everything down, also when interrupted (Ctrl-C).
#
# scripts/lab-single-node.sh is a smaller lab: one node, no BGP, IPv4 and IPv6.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
# Quiet unless it fails: then the compiler's errors, not just an exit code.
meson compile -C build > build/compile.log 2>&1 || { tail -n 40 build/compile.log; echo "build failed (build/compile.log)"; exit 1; }
exec /usr/bin/python3 lab/anycast_lab.py build/controlplane/anylb-controlplane \
  build/dataplane/dpdk/anylb-dataplane build/grpc/anylbctl/anylbctl
