#!/usr/bin/env bash
# Install every Debian package anylb's build, tests, lab and benchmarks need.
# Non-interactive and idempotent: packages already present are skipped by apt.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config ccache
  dpdk dpdk-dev libdpdk-dev libpcap-dev
  libboost-program-options-dev libspdlog-dev libfmt-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcpp-httplib-dev libyaml-cpp-dev
  # fuzzing (scripts/fuzz.sh): clang 14 and its libFuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # routing and lab
  gobgpd golang-github-osrg-gobgp-dev bird2 iproute2 iputils-ping ethtool curl procps
  # packet crafting and inspection
  python3-scapy tcpdump
  # benchmarks
  linux-perf valgrind python3-matplotlib
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
