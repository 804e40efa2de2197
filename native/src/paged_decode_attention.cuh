// Launcher of the paged decode attention kernel (raw pointers; no libtorch), see paged_decode_attention.cu.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

enum class ElementType { Float32, Float16, BFloat16 };

// How the pools store a K or V row of one (slot, KV head): in the query's dtype, or as INT8 codes [D] uint8 with
// the row's (scale, minimum) as two fp16 in `params` [S, KvH, 2]: value = code * scale + minimum.
enum class KvFormat { Native, Int8 };

// One tier of the pool: K and V rows [S, KvH, D] (and INT8 row parameters [S, KvH, 2] fp16).
struct KvPoolView {
  const void* keys;
  const void* values;
  const void* key_params;    // Int8 only
  const void* value_params;  // Int8 only
};

struct PagedDecodeAttentionArgs {
  ElementType type;           // query / out
  KvFormat format;
  void* out;                  // [B, H, D]
  const void* query;          // [B, H, D], rows query_stride apart (heads and dims contiguous within a row)
  int64_t query_stride;
  KvPoolView gpu;             // blocks [0, gpu_blocks) of the block table
  KvPoolView cpu;             // blocks >= gpu_blocks: the CPU tier, page-locked host memory read through its device mapping
  const int64_t* block_table; // [B, max_blocks] pool block of each logical block
  const int64_t* lengths;     // [B] cached positions (the new token included)
  // Selection (null: every position 0..length-1). Per (sequence, selection group) three segments are attended:
  // positions [0, sinks), `listed` positions from `positions`, and [recent_start, length).
  const int32_t* segments;    // [B, SG, 3]: sinks, listed, recent_start
  const int32_t* positions;   // [B, SG, max_listed]
  int selection_groups;       // SG: 1 (one selection for all KV heads) or KvH
  int max_listed;
  // Optional hot set (hot_set.cuh): listed entry j is read from hot slot j of the sequence's hot blocks
  // [B, max_hot_blocks] (GPU pool blocks) instead of through the block table.
  const int64_t* hot_table;
  int max_hot_blocks;
  // Optional outputs for score-keeping policies: each attended entry's scaled logit per query head, in the order
  // above, [B, H, logit_stride] fp32, and each head's log-sum-exp [B, H].
  float* logits;
  float* lse;
  int logit_stride;
  int batch, kv_heads, groups, head_dim, max_blocks, block_size;
  int64_t gpu_blocks;
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

// decode_attention_weights: per (sequence, KV head, entry) the attended position and its attention weight summed
// over the KV head's query group, from the kernel's logits and lse: weights/positions [B, KvH, logit_stride]
// (entries past a row's count: weight 0, position 0).
struct AttentionWeightsArgs {
  float* weights;
  int64_t* positions;
  const float* logits;
  const float* lse;
  const int64_t* lengths;
  const int32_t* segments;
  const int32_t* listed;
  int selection_groups, max_listed;
  int batch, kv_heads, groups, logit_stride;
};
const char* launch_attention_weights(const AttentionWeightsArgs& args, cudaStream_t stream);

}  // namespace alisa
