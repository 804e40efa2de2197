// float <-> storage type conversions shared by the kernels.
#pragma once
#include <cstdint>
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

// Byte j of `codes` (an INT8 KV code, 0..255) as an exact float without an I2F conversion, which issues at 1/8 the
// FMA rate: the byte becomes the low mantissa bits of 2^23 (0x4B000000), and subtracting 2^23 leaves the code.
__device__ inline float code_to_float(uint32_t codes, int j) {
  return __uint_as_float(__byte_perm(codes, 0x4B000000u, 0x7540u | j)) - 8388608.f;
}

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
