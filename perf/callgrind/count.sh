#!/bin/bash
# Prints the pipeline's instructions per packet (callgrind), established
# flows, new flows and a SYN flood; see count.cpp and perf/RESULTS.md.
#
#   perf/callgrind/count.sh BUILD
#
# BUILD: a build directory configured with -Dmarch=x86-64-v3 (valgrind does
# not decode every -march=native instruction), e.g.
#   meson setup /tmp/build-cg --buildtype=release -Dmarch=x86-64-v3 -Dcpp_args=-g
# Needs valgrind. The harness's own frame setup (~15 instructions a packet)
# is included in the figure. KEEP=DIR copies the callgrind files and the
# binary there (for callgrind_annotate); CALLGRIND_ARGS adds options, e.g.
# --dump-instr=yes for counts per instruction.
set -eu
if [ $# -ne 1 ] || [ ! -f "$1/compile_commands.json" ]; then
  echo "usage: $0 BUILD-DIRECTORY (configured with meson)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && cp "$tmp"/*.out "$tmp"/count "$KEEP"/; rm -rf "$tmp"' EXIT

meson compile -C "$build" anylb_core >/dev/null
# Compile count.cpp exactly as the build compiles stages_bench.cpp.
compile=$(python3 - "$build" "$here" "$tmp" <<'PY'
import json, re, shlex, sys
build, here, tmp = sys.argv[1:]
entry = [e for e in json.load(open(build + "/compile_commands.json")) if e["file"].endswith("stages_bench.cpp")][0]
c = entry["command"]
c = re.sub(r" -o \S+", f" -o {tmp}/count.o", c)
c = re.sub(r" -c \S+", f" -c {here}/count.cpp -I{here}/..", c)
c = re.sub(r" -M[QF] \S+", "", c)
c = re.sub(r" -MD\b", "", c)
print(f"cd {shlex.quote(entry['directory'])} && {c}")
PY
)
eval "$compile"
c++ -o "$tmp/count" "$tmp/count.o" "$build/dataplane/core/libanylb_core.a" -lbenchmark -lpthread
for mode in established new syn; do
  n=$(cd "$tmp" && valgrind --tool=callgrind --instr-atstart=no ${CALLGRIND_ARGS:-} --callgrind-out-file="$tmp/$mode.out" \
        "$tmp/count" "$mode" 2>&1 | sed -n 's/.*Collected : //p')
  echo "$mode: $((n / 32000)) instructions/packet"
done
