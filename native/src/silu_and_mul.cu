// SwiGLU's gate: out[r, i] = silu(gate_up[r, i]) * gate_up[r, I + i], each product rounded as the two TorchSharp ops
// it replaces round (silu to the storage type, then the product). gate_up [rows, 2I], out [rows, I], contiguous.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

template <typename T>
__global__ void silu_and_mul_kernel(T* __restrict__ out, const T* __restrict__ gate_up, int64_t rows, int64_t inner) {
  const int64_t total = rows * inner;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / inner, i = e % inner;
    const float g = to_float(gate_up[r * 2 * inner + i]);
    const float silu = to_float(from_float<T>(g / (1.f + __expf(-g))));
    out[e] = from_float<T>(silu * to_float(gate_up[r * 2 * inner + inner + i]));
  }
}

}  // namespace

const char* launch_silu_and_mul(ElementType type, void* out, const void* gate_up, int64_t rows, int64_t inner, cudaStream_t stream) {
  const int64_t total = rows * inner;
  if (total == 0) return nullptr;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads < 65535 ? (total + threads - 1) / threads : 65535;
  ALISA_DISPATCH_TYPE(type, silu_and_mul_kernel<T><<<blocks, threads, 0, stream>>>(
      static_cast<T*>(out), static_cast<const T*>(gate_up), rows, inner));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
