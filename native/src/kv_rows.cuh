// Where a cached position's K/V row is, shared by the kernels that read the paged pool by block table.
#pragma once
#include <cstdint>

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

}  // namespace alisa
