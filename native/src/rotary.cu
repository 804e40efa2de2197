// Rotary position embedding (rotate-half layout, as transformers' Llama) applied in place:
//   x[.., i] = x[i] * cos[i] - x[i + D/2] * sin[i];  x[.., i + D/2] = x[i + D/2] * cos[i + D/2] + x[i] * sin[i + D/2]
// x [B, heads, T, D] with strides (stride_b, stride_h, stride_t, 1), e.g. a head view of the fused QKV projection;
// cos/sin [B, T, D] contiguous (the angles of each token's position). One thread per rotated pair.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

template <typename T>
__global__ void rotary_kernel(T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin, int64_t heads,
                              int64_t tokens, int64_t head_dim, int64_t stride_b, int64_t stride_h, int64_t stride_t,
                              int64_t pairs) {
  const int64_t half = head_dim / 2;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs; p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p % half, t = (p / half) % tokens, h = (p / (half * tokens)) % heads, b = p / (half * tokens * heads);
    T* v = x + b * stride_b + h * stride_h + t * stride_t;
    const T* c = cos + (b * tokens + t) * head_dim;
    const T* s = sin + (b * tokens + t) * head_dim;
    const float x1 = to_float(v[i]), x2 = to_float(v[i + half]);
    v[i] = from_float<T>(x1 * to_float(c[i]) - x2 * to_float(s[i]));
    v[i + half] = from_float<T>(x2 * to_float(c[i + half]) + x1 * to_float(s[i + half]));
  }
}

}  // namespace

const char* launch_rotary(const RotaryArgs& a, cudaStream_t stream) {
  const int64_t pairs = a.batch * a.heads * a.tokens * (a.head_dim / 2);
  if (pairs == 0) return nullptr;
  const int threads = 256;
  const int64_t blocks = (pairs + threads - 1) / threads < 65535 ? (pairs + threads - 1) / threads : 65535;
  ALISA_DISPATCH_TYPE(a.type, rotary_kernel<T><<<blocks, threads, 0, stream>>>(
      static_cast<T*>(a.x), static_cast<const T*>(a.cos), static_cast<const T*>(a.sin), a.heads, a.tokens, a.head_dim,
      a.stride_b, a.stride_h, a.stride_t, pairs));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
