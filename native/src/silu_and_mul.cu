// SwiGLU's gate: out[r, i] = silu(gate_up[r, i]) * gate_up[r, I + i], each product rounded as the two TorchSharp ops
// it replaces round (silu to the storage type, then the product). gate_up [rows, 2I], out [rows, I], contiguous.
// One thread per pack of N outputs (16-byte loads when I and the pointers allow).
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

template <typename T, int N>
__global__ void silu_and_mul_kernel(T* __restrict__ out, const T* __restrict__ gate_up, int64_t rows, int64_t inner) {
  using P = Pack<T, N>;
  const int64_t packs_per_row = inner / N, total = rows * packs_per_row;
  const P* in = reinterpret_cast<const P*>(gate_up);
  P* result = reinterpret_cast<P*>(out);
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / packs_per_row, i = e % packs_per_row;
    const P gate = in[r * 2 * packs_per_row + i], up = in[r * 2 * packs_per_row + packs_per_row + i];
    P o;
#pragma unroll
    for (int k = 0; k < N; k++) {
      const float g = to_float(gate.v[k]);
      const float silu = to_float(from_float<T>(g / (1.f + __expf(-g))));
      o.v[k] = from_float<T>(silu * to_float(up.v[k]));
    }
    result[e] = o;
  }
}

template <typename T, int N>
void launch(T* out, const T* gate_up, int64_t rows, int64_t inner, cudaStream_t stream) {
  const int64_t total = rows * (inner / N);
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads < 65535 ? (total + threads - 1) / threads : 65535;
  silu_and_mul_kernel<T, N><<<blocks, threads, 0, stream>>>(out, gate_up, rows, inner);
}

}  // namespace

const char* launch_silu_and_mul(ElementType type, void* out, const void* gate_up, int64_t rows, int64_t inner, cudaStream_t stream) {
  if (rows * inner == 0) return nullptr;
  const bool aligned = reinterpret_cast<uintptr_t>(out) % 16 == 0 && reinterpret_cast<uintptr_t>(gate_up) % 16 == 0;
  ALISA_DISPATCH_TYPE(type, {
    constexpr int kPack = 16 / sizeof(T);
    if (aligned && inner % kPack == 0) launch<T, kPack>(static_cast<T*>(out), static_cast<const T*>(gate_up), rows, inner, stream);
    else launch<T, 1>(static_cast<T*>(out), static_cast<const T*>(gate_up), rows, inner, stream);
  });
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
