// Launchers of the small fused kernels of a transformer layer (raw pointers; no libtorch). Each kernel has its own
// file with its layouts; each has a TorchSharp reference (the ops it replaces) that alisa native-check compares.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>
#include "paged_decode_attention.cuh"  // ElementType

namespace alisa {

// rms_norm.cu: out[r, :] = weight * cast(s[r, :] * rsqrt(mean(s[r, :]^2) + eps)) with s = x, or with a delta
// s = x + delta, written to sum; x, delta, sum, out [rows, hidden] contiguous (delta and sum null for a plain norm).
const char* launch_rms_norm(ElementType type, void* out, void* sum, const void* x, const void* delta, const void* weight,
                            int64_t rows, int hidden, float eps, cudaStream_t stream);

// rotary.cu: x [B, heads, T, D] (any strides, last dim contiguous) rotated in place by cos/sin [B, T, D] contiguous
// (rotate-half layout: pairs (i, i + D/2)).
struct RotaryArgs {
  ElementType type;
  void* x;
  int64_t batch, heads, tokens, head_dim;
  int64_t stride_b, stride_h, stride_t;
  const void* cos;
  const void* sin;
};
const char* launch_rotary(const RotaryArgs& args, cudaStream_t stream);

// silu_and_mul.cu: out[r, i] = silu(gate_up[r, i]) * gate_up[r, I + i]; gate_up [rows, 2I] contiguous, out [rows, I].
const char* launch_silu_and_mul(ElementType type, void* out, const void* gate_up, int64_t rows, int64_t inner,
                                cudaStream_t stream);

// kv_write.cu: key_pool[slots[b*T + t], h, :] = key[b, h, t, :] and the same for values; pools [S, KvH, D]
// contiguous; key/value [B, KvH, T, D] with any strides (last dim contiguous), both with the same strides.
struct KvWriteArgs {
  ElementType type;
  void* key_pool;
  void* value_pool;
  const void* key;
  const void* value;
  const int64_t* slots;
  int64_t batch, kv_heads, tokens, head_dim;
  int64_t stride_b, stride_h, stride_t;
};
const char* launch_kv_write(const KvWriteArgs& args, cudaStream_t stream);

// kv_copy_blocks.cu: whole blocks of a contiguous pool tensor [S, ...] (block_bytes each) from source to target,
// either of which may be page-locked host memory given by its device pointer; block ids int64 on the device.
const char* launch_copy_blocks(void* target, const void* source, const int64_t* target_blocks, const int64_t* source_blocks,
                               int64_t blocks, int64_t block_bytes, cudaStream_t stream);

// kv_write_int8.cu: the same rows quantised per (token, KV head) into code pools [S, KvH, D] uint8 and parameter
// pools [S, KvH, 2] fp16 (scale, min).
struct KvWriteInt8Args {
  ElementType type;
  void* key_codes;
  void* value_codes;
  void* key_params;
  void* value_params;
  const void* key;
  const void* value;
  const int64_t* slots;
  int64_t batch, kv_heads, tokens, head_dim;
  int64_t stride_b, stride_h, stride_t;
};
const char* launch_kv_write_int8(const KvWriteInt8Args& args, cudaStream_t stream);

}  // namespace alisa
