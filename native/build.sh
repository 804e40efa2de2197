#!/usr/bin/env bash
# Builds native/ into native/build/libalisa_native.so against the CUDA toolkit and the libtorch of this machine's
# PyTorch (the libtorch the engine process loads through LD_LIBRARY_PATH; see scripts/pack-gpu.sh). The engine
# finds the library through ALISA_NATIVE_LIB or at native/build/ and otherwise runs its eager TorchSharp path.
#
#   bash native/build.sh            # CUDA_ARCHS="90" by default (H100/H200); e.g. CUDA_ARCHS="80 90"
#   bash native/build.sh --help
set -euo pipefail
source "$(dirname "$0")/../scripts/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=$here/build
mkdir -p "$out"
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "native/build.sh: no nvcc (set NVCC or install the CUDA toolkit)" >&2; exit 1; }
cuda_home=$(cd "$(dirname "$nvcc")/.." && pwd)
read -r torch_dir abi < <(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI))') \
  || { echo "native/build.sh: python3 cannot import torch (the libtorch to build against)" >&2; exit 1; }
archs=${CUDA_ARCHS:-90}
gencode=(); for a in $archs; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
last=${archs##* }; gencode+=(-gencode "arch=compute_$last,code=compute_$last")   # PTX for newer GPUs

includes=(-I"$here/include" -I"$torch_dir/include" -I"$torch_dir/include/torch/csrc/api/include" -I"$cuda_home/include")
cxxflags=(-O3 -std=c++17 -fPIC -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI="$abi" -Wall -Wno-unused-parameter)

# kernels need no libtorch headers (nvcc compiles them fast); the ABI files go through g++; all in parallel
pids=()
for src in paged_decode_attention hot_set kv_copy_blocks rms_norm rotary silu_and_mul kv_write kv_write_int8 window_scores window_slide_select select_top page_sums_add summary_attention; do
  "$nvcc" -O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -fvisibility=hidden "${gencode[@]}" \
    -I"$here/include" -c "$here/src/$src.cu" -o "$out/$src.o" & pids+=($!)
done
for src in runtime cuda_graph paged_decode_attention_api elementwise_api window_scores_api page_summaries_api; do
  g++ "${cxxflags[@]}" "${includes[@]}" -c "$here/src/$src.cpp" -o "$out/$src.o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

g++ -shared -o "$out/libalisa_native.so" "$out"/*.o -L"$torch_dir/lib" -L"$cuda_home/lib64" \
  -Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -Wl,--as-needed \
  -l:libcudart_static.a -ldl -lrt -lpthread -Wl,-rpath,"$torch_dir/lib"
echo "built $out/libalisa_native.so (torch $(python3 -c 'import torch; print(torch.__version__)'), sm $archs)"
