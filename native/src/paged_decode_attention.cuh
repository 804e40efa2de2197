// Launcher of the paged decode attention kernel (raw pointers; no libtorch), see paged_decode_attention.cu.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

enum class ElementType { Float32, Float16, BFloat16 };

struct PagedDecodeAttentionArgs {
  ElementType type;
  void* out;                  // [B, H, D]
  const void* query;          // [B, H, D]
  const void* key_pool;       // [S, KvH, D]
  const void* value_pool;     // [S, KvH, D]
  const int64_t* block_table; // [B, max_blocks]
  const int64_t* lengths;     // [B]
  int batch, kv_heads, groups, head_dim, max_blocks, block_size;
  float scale;
  int splits;                 // key-range splits per (sequence, KV head); > 1 needs the workspace
  float* workspace;           // splits > 1: B * H * splits * (D + 2) floats
};

// Workspace floats the call needs (0 when splits == 1).
int64_t paged_decode_attention_workspace(int batch, int heads, int head_dim, int splits);

// Splits that fill the device for a batch (one block per (sequence, KV head, split)).
int paged_decode_attention_splits(int batch, int kv_heads, int multiprocessors);

// Returns nullptr on success, else a message naming the unsupported argument.
const char* launch_paged_decode_attention(const PagedDecodeAttentionArgs& args, cudaStream_t stream);

}  // namespace alisa
