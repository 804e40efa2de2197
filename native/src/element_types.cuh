// float <-> storage type conversions shared by the kernels.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace alisa {
__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__half x) { return __half2float(x); }
__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ inline T from_float(float x);
template <> __device__ inline float from_float<float>(float x) { return x; }
template <> __device__ inline __half from_float<__half>(float x) { return __float2half(x); }
template <> __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

// N elements loaded or stored as one vector (N * sizeof(T) = 16 bytes: one 128-bit access).
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// Calls body.template operator()<T>() with T the storage type of `type`.
#define ALISA_DISPATCH_TYPE(type, ...)                                              \
  switch (type) {                                                                  \
    case ::alisa::ElementType::Float32: { using T = float; __VA_ARGS__; break; }   \
    case ::alisa::ElementType::Float16: { using T = __half; __VA_ARGS__; break; }  \
    case ::alisa::ElementType::BFloat16: { using T = __nv_bfloat16; __VA_ARGS__; break; } \
  }
}  // namespace alisa
