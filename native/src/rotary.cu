// Rotary position embedding (rotate-half layout, as transformers' Llama) applied in place:
//   x[.., i] = x[i] * cos[i] - x[i + D/2] * sin[i];  x[.., i + D/2] = x[i + D/2] * cos[i + D/2] + x[i] * sin[i + D/2]
// x [B, heads, T, D] with strides (stride_b, stride_h, stride_t, 1), e.g. a head view of the fused QKV projection;
// cos/sin [B, T, D] contiguous (the angles of each token's position). One thread per N adjacent pairs (16-byte loads
// of both halves and of their angles when D / 2, the strides and the pointers allow; else N = 1).
#include "elementwise.cuh"
#include "element_types.cuh"

#include <cstdint>

namespace alisa {
namespace {

template <typename T, int N>
__global__ void rotary_kernel(T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin, int64_t heads,
                              int64_t tokens, int64_t head_dim, int64_t stride_b, int64_t stride_h, int64_t stride_t,
                              int64_t packs) {
  using P = Pack<T, N>;
  const int64_t half = head_dim / 2, packs_per_half = half / N;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs; p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = (p % packs_per_half) * N, t = (p / packs_per_half) % tokens, h = (p / (packs_per_half * tokens)) % heads,
                  b = p / (packs_per_half * tokens * heads);
    T* v = x + b * stride_b + h * stride_h + t * stride_t;
    const int64_t angles = (b * tokens + t) * head_dim;
    const P x1 = *reinterpret_cast<const P*>(v + i), x2 = *reinterpret_cast<const P*>(v + i + half);
    const P c1 = *reinterpret_cast<const P*>(cos + angles + i), c2 = *reinterpret_cast<const P*>(cos + angles + i + half);
    const P s1 = *reinterpret_cast<const P*>(sin + angles + i), s2 = *reinterpret_cast<const P*>(sin + angles + i + half);
    P y1, y2;
#pragma unroll
    for (int k = 0; k < N; k++) {
      const float a = to_float(x1.v[k]), c = to_float(x2.v[k]);
      y1.v[k] = from_float<T>(a * to_float(c1.v[k]) - c * to_float(s1.v[k]));
      y2.v[k] = from_float<T>(c * to_float(c2.v[k]) + a * to_float(s2.v[k]));
    }
    *reinterpret_cast<P*>(v + i) = y1;
    *reinterpret_cast<P*>(v + i + half) = y2;
  }
}

template <typename T, int N>
void launch(const RotaryArgs& a, cudaStream_t stream) {
  const int64_t packs = a.batch * a.heads * a.tokens * (a.head_dim / 2 / N);
  const int threads = 256;
  const int64_t blocks = (packs + threads - 1) / threads < 65535 ? (packs + threads - 1) / threads : 65535;
  rotary_kernel<T, N><<<blocks, threads, 0, stream>>>(static_cast<T*>(a.x), static_cast<const T*>(a.cos), static_cast<const T*>(a.sin),
                                                       a.heads, a.tokens, a.head_dim, a.stride_b, a.stride_h, a.stride_t, packs);
}

}  // namespace

const char* launch_rotary(const RotaryArgs& a, cudaStream_t stream) {
  if (a.batch * a.heads * a.tokens * (a.head_dim / 2) == 0) return nullptr;
  ALISA_DISPATCH_TYPE(a.type, {
    constexpr int kPack = 16 / sizeof(T);
    const bool aligned = reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && reinterpret_cast<uintptr_t>(a.cos) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(a.sin) % 16 == 0 && (a.head_dim / 2) % kPack == 0 &&
                         a.stride_b % kPack == 0 && a.stride_h % kPack == 0 && a.stride_t % kPack == 0;
    if (aligned) launch<T, kPack>(a, stream);
    else launch<T, 1>(a, stream);
  });
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
