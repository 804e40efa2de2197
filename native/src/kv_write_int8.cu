// Stores the new tokens' K and V rows in an INT8 pool, quantised per row (one token and KV head):
//   min = min(x), scale = max(max(x) - min, 1e-6) / 255, code = clamp(round_half_even((x - min) / scale), 0, 255)
//   codes[slot, h, :] = code (uint8), params[slot, h] = (scale, min) as fp16
// key/value [B, KvH, T, D] with strides (stride_b, stride_h, stride_t, 1); code pools [S, KvH, D] uint8 and parameter
// pools [S, KvH, 2] fp16, contiguous; slots [B*T] int64. One warp per (row, K or V). The math is the TorchSharp
// reference of Int8KvLayerStore (fp32, IEEE division), so both give the same codes.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

constexpr int kLanes = 32;
constexpr unsigned kAll = 0xffffffffu;

template <typename T>
__global__ void kv_write_int8_kernel(KvWriteInt8Args a, int64_t rows) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kLanes;
  const int lane = threadIdx.x % kLanes;
  if (warp >= 2 * rows) return;
  const bool is_value = warp >= rows;
  const int64_t row = is_value ? warp - rows : warp;  // (b, t, h) flattened as [B*T, KvH]
  const int64_t h = row % a.kv_heads, bt = row / a.kv_heads, t = bt % a.tokens, b = bt / a.tokens;
  const T* source = static_cast<const T*>(is_value ? a.value : a.key) + b * a.stride_b + h * a.stride_h + t * a.stride_t;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t d = lane; d < a.head_dim; d += kLanes) {
    const float x = to_float(source[d]);
    lo = fminf(lo, x);
    hi = fmaxf(hi, x);
  }
  for (int o = kLanes / 2; o > 0; o /= 2) {
    lo = fminf(lo, __shfl_xor_sync(kAll, lo, o));
    hi = fmaxf(hi, __shfl_xor_sync(kAll, hi, o));
  }
  const float scale = fmaxf(hi - lo, 1e-6f) / 255.f;
  const int64_t target = a.slots[bt] * a.kv_heads + h;
  uint8_t* codes = static_cast<uint8_t*>(is_value ? a.value_codes : a.key_codes) + target * a.head_dim;
  for (int64_t d = lane; d < a.head_dim; d += kLanes)
    codes[d] = static_cast<uint8_t>(fminf(fmaxf(rintf((to_float(source[d]) - lo) / scale), 0.f), 255.f));
  if (lane == 0) static_cast<__half2*>(is_value ? a.value_params : a.key_params)[target] = __floats2half2_rn(scale, lo);
}

}  // namespace

const char* launch_kv_write_int8(const KvWriteInt8Args& a, cudaStream_t stream) {
  const int64_t rows = a.batch * a.tokens * a.kv_heads;
  if (rows == 0) return nullptr;
  const int threads = 256;
  const int64_t blocks = (2 * rows * kLanes + threads - 1) / threads;
  ALISA_DISPATCH_TYPE(a.type, kv_write_int8_kernel<T><<<blocks, threads, 0, stream>>>(a, rows));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
