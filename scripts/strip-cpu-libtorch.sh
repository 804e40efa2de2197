#!/usr/bin/env bash
# strip-cpu-libtorch.sh DIR: removes the CPU build of libtorch (and its companions) that TorchSharp's package brings
# from a published app, plus debug symbols. LibTorchSharp itself stays: on a GPU machine or in the GPU image the app
# loads the CUDA libtorch found on LD_LIBRARY_PATH instead (scripts/pack-gpu.sh, scripts/publish-silo.sh).
set -euo pipefail
source "$(dirname "$0")/help.sh"
dir=${1:?usage: strip-cpu-libtorch.sh DIR}
[[ -d "$dir" ]] || { echo "strip-cpu-libtorch: no folder '$dir'" >&2; exit 1; }
cpu_libs=(-name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libshm*.so*'
          -o -name 'libbackend_with_compiler.so' -o -name 'libjitbackend_test.so' -o -name 'libnnapi_backend.so'
          -o -name 'libaoti_custom_ops.so' -o -name '*.pdb')
find "$dir" -maxdepth 4 -type f \( "${cpu_libs[@]}" \) -delete
rm -rf "$dir/cpu"
