#!/usr/bin/env bash
# check-native.sh: compiles native/src/*.cu here (no GPU needed) so syntax, template and register-use errors show up
# before device time is spent. The .cpp ABI files need libtorch's headers and are built on the GPU machine only; here
# g++ checks that the repository headers they include compile as host code (no device functions in them).
#
# usage: bash scripts/check-native.sh [--verbose]     (--verbose: ptxas's registers and spills per kernel)
#
# Needs an nvcc (NVCC=..., or on PATH, or /usr/local/cuda/bin). Where the toolkit is older than the host compiler it
# supports (Debian 12's nvidia-cuda-toolkit 11.8 next to GCC 12+), set HOST_CXX=clang-14; with glibc 2.38 or newer,
# CUDA 11.8's crt/math_functions.h also needs `noexcept (true)` on its cospi/sinpi/rsqrt declarations (docs/gpu-machine.md).
set -euo pipefail
source "$(dirname "$0")/help.sh"
here=$(cd "$(dirname "$0")/.." && pwd)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "check-native: no nvcc (set NVCC, or install a CUDA toolkit)" >&2; exit 1; }
host=(); [ -n "${HOST_CXX:-}" ] && host=(-ccbin "$HOST_CXX")
verbose=(); [ "${1:-}" == "--verbose" ] && verbose=(-Xptxas -v)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
failed=0
for src in "$here"/native/src/*.cu; do
  name=$(basename "$src" .cu)
  if "$nvcc" "${host[@]}" -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 "${verbose[@]}" -I"$here/native/include" \
       -c "$src" -o "$out/$name.o" > "$out/$name.log" 2>&1; then
    echo "ok      $name"; [ ${#verbose[@]} -gt 0 ] && grep -E "registers|spill" "$out/$name.log" | sed 's/^/        /'
  else
    echo "FAILED  $name"; sed 's/^/        /' "$out/$name.log" | head -30; failed=1
  fi
done
for src in "$here"/native/src/*.cpp; do
  name=$(basename "$src")
  grep -E '^#include "' "$src" > "$out/includes.cpp"
  if g++ -std=c++17 -fsyntax-only -Wall -I"$here/native/include" -I"$here/native/src" "$out/includes.cpp" > "$out/$name.log" 2>&1; then
    echo "ok      $name (its repository headers, as host code)"
  else
    echo "FAILED  $name: its repository headers do not compile as host code"; sed 's/^/        /' "$out/$name.log" | head -30; failed=1
  fi
done
exit $failed
