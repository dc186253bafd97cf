#!/bin/sh
# gen_proto.sh PROTOC GRPC_PLUGIN ROOT STEM OUTDIR NAME
# Runs protoc for ROOT/STEM.proto and renames the outputs to NAME.* in OUTDIR
# (meson wants flat, known output names).
set -eu
protoc=$1 plugin=$2 root=$3 stem=$4 out=$5 name=$6
tmp="$out/.gen-$name"
rm -rf "$tmp" && mkdir -p "$tmp"
"$protoc" -I "$root" --cpp_out="$tmp" --grpc_out="$tmp" --plugin=protoc-gen-grpc="$plugin" "$root/$stem.proto"
base=$(basename "$stem")
for ext in pb.cc pb.h grpc.pb.cc grpc.pb.h; do
  # Point the generated includes at the flat names.
  sed -e "s|#include \"$stem.pb.h\"|#include \"$name.pb.h\"|" \
      -e "s|#include \"$stem.grpc.pb.h\"|#include \"$name.grpc.pb.h\"|" \
      "$tmp/$stem.$ext" > "$out/$name.$ext"
done
rm -rf "$tmp"
