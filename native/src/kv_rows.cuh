// Where a cached position's K/V row is and how it reads back, shared by the kernels that read the paged pool.
#pragma once
#include <cstdint>
#include <cuda_fp16.h>

#include "element_types.cuh"
#include "paged_decode_attention.cuh"  // KvFormat, KvPoolView

namespace alisa {

// Row (slot * KvH + head) of a position: >= 0 in the GPU pool, -1 - row in the CPU tier (block-table entries at or
// above gpu_blocks address CPU block entry - gpu_blocks).
__device__ inline int64_t row_of(const int64_t* table, int position, int block_size, int64_t gpu_blocks, int kv_heads,
                                 int kv_head) {
  const int64_t block = table[position / block_size], offset = position % block_size;
  return block < gpu_blocks ? (block * block_size + offset) * kv_heads + kv_head
                            : -1 - (((block - gpu_blocks) * block_size + offset) * kv_heads + kv_head);
}

// Row of hot slot j of a sequence whose hot blocks (GPU pool blocks) are `hot_table`.
__device__ inline int64_t hot_row_of(const int64_t* hot_table, int j, int block_size, int kv_heads, int kv_head) {
  return (hot_table[j / block_size] * block_size + j % block_size) * kv_heads + kv_head;
}

// Dims [first, first + N) of K or V pool row `row` (slot * KvH + head) as the store reads it back.
template <typename T, KvFormat F, int N>
__device__ inline void stored_dims(const KvPoolView& pool, bool values, int64_t row, int head_dim, int first, float (&x)[N]) {
  if constexpr (F == KvFormat::Native) {
    const T* rows = static_cast<const T*>(values ? pool.values : pool.keys) + row * head_dim + first;
#pragma unroll
    for (int i = 0; i < N; i++) x[i] = to_float(rows[i]);
  } else {
    const uint8_t* codes = static_cast<const uint8_t*>(values ? pool.values : pool.keys) + row * head_dim + first;
    const __half2 p = static_cast<const __half2*>(values ? pool.value_params : pool.key_params)[row];
    const float scale = __low2float(p), minimum = __high2float(p);
#pragma unroll
    for (int i = 0; i < N; i++) x[i] = to_float(from_float<T>(__fadd_rn(__fmul_rn(static_cast<float>(codes[i]), scale), minimum)));
  }
}

}  // namespace alisa
