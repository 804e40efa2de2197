// Stores the new tokens' K and V rows in an INT8 pool, quantised per row (one token and KV head):
//   min = min(x), scale = max(max(x) - min, 1e-6) / 255, code = clamp(round_half_even((x - min) / scale), 0, 255)
//   codes[slot, h, :] = code (uint8), params[slot, h] = (scale, min) as fp16
// key/value [B, KvH, T, D] with strides (stride_b, stride_h, stride_t, 1); code pools [S, KvH, D] uint8 and parameter
// pools [S, KvH, 2] fp16, contiguous; slots [B*T] int64; D <= 256. One warp per (row, K or V). The math is the TorchSharp
// reference of Int8KvLayerStore (fp32, IEEE division), so both give the same codes.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

constexpr int kLanes = 32;
constexpr unsigned kAll = 0xffffffffu;

// kPer = ceil(D / 32) elements per lane, a compile-time bound: the lane's loads are all issued before the first is used
// (one round trip per row, where a runtime-bounded loop made it one per element, twice), and the row stays in registers.
template <typename T, int kPer>
__global__ void kv_write_int8_kernel(KvWriteInt8Args a, int rows) {
  const int warp = static_cast<int>((blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kLanes);
  const int lane = threadIdx.x % kLanes;
  if (warp >= 2 * rows) return;
  const bool is_value = warp >= rows;
  const int row = is_value ? warp - rows : warp;  // (b, t, h) flattened as [B*T, KvH]
  const int kv_heads = static_cast<int>(a.kv_heads), tokens = static_cast<int>(a.tokens), dim = static_cast<int>(a.head_dim);
  const int h = row % kv_heads, bt = row / kv_heads, t = bt % tokens, b = bt / tokens;
  const T* source = static_cast<const T*>(is_value ? a.value : a.key) + b * a.stride_b + h * a.stride_h + t * a.stride_t;
  float x[kPer];
#pragma unroll
  for (int i = 0; i < kPer; i++) {
    const int d = lane + i * kLanes;
    x[i] = d < dim ? to_float(source[d]) : 0.f;
  }
  float lo = INFINITY, hi = -INFINITY;
#pragma unroll
  for (int i = 0; i < kPer; i++)
    if (lane + i * kLanes < dim) {
      lo = fminf(lo, x[i]);
      hi = fmaxf(hi, x[i]);
    }
  for (int o = kLanes / 2; o > 0; o /= 2) {
    lo = fminf(lo, __shfl_xor_sync(kAll, lo, o));
    hi = fmaxf(hi, __shfl_xor_sync(kAll, hi, o));
  }
  const float scale = fmaxf(hi - lo, 1e-6f) / 255.f;
  const int64_t target = a.slots[bt] * a.kv_heads + h;
  uint8_t* codes = static_cast<uint8_t*>(is_value ? a.value_codes : a.key_codes) + target * dim;
#pragma unroll
  for (int i = 0; i < kPer; i++) {
    const int d = lane + i * kLanes;
    if (d < dim) codes[d] = static_cast<uint8_t>(fminf(fmaxf(rintf((x[i] - lo) / scale), 0.f), 255.f));
  }
  if (lane == 0) static_cast<__half2*>(is_value ? a.value_params : a.key_params)[target] = __floats2half2_rn(scale, lo);
}

template <typename T>
const char* launch_typed(const KvWriteInt8Args& a, int rows, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = (2 * static_cast<int64_t>(rows) * kLanes + threads - 1) / threads;
  if (a.head_dim <= 64) kv_write_int8_kernel<T, 2><<<blocks, threads, 0, stream>>>(a, rows);
  else if (a.head_dim <= 128) kv_write_int8_kernel<T, 4><<<blocks, threads, 0, stream>>>(a, rows);
  else if (a.head_dim <= 256) kv_write_int8_kernel<T, 8><<<blocks, threads, 0, stream>>>(a, rows);
  else return "kv_write_int8: head dim must be at most 256";
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace

const char* launch_kv_write_int8(const KvWriteInt8Args& a, cudaStream_t stream) {
  const int64_t rows = a.batch * a.tokens * a.kv_heads;
  if (rows == 0) return nullptr;
  if (rows > (1 << 30) / kLanes) return "kv_write_int8: too many rows for one launch";  // warp ids stay in int
  switch (a.type) {
    case ElementType::Float32: return launch_typed<float>(a, static_cast<int>(rows), stream);
    case ElementType::Float16: return launch_typed<__half>(a, static_cast<int>(rows), stream);
    case ElementType::BFloat16: return launch_typed<__nv_bfloat16>(a, static_cast<int>(rows), stream);
  }
  return "kv_write_int8: unsupported element type";
}

}  // namespace alisa
