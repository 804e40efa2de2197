// The GPU hot set of a tiered KV pool (ALISA phase II). Each sequence keeps the rows its selection listed at its
// last step in hot slots: GPU pool blocks of its own (slot j: hot block j / bs, offset j % bs; every KV head's row of
// the slot is used, by per-head selections for different positions). A step then copies only the rows listed anew
// (over PCIe from the CPU tier, or from GPU blocks) instead of reading every listed CPU-tier row, and the attention
// kernel reads listed entry j from hot slot j (PagedDecodeAttentionArgs::hot_table).
//
// hot_set_update, one thread block per (sequence b, selection group g), before the layer's attention:
//   in   segments [B, SG, 3] int32 (sinks, listed, recent start) and listed [B, SG, K] int32: the layer's selection
//        lengths [B] int64, block_table [B, M] int64 (>= gpu_blocks: CPU tier), the GPU and CPU pools
//        hot_table [B, MH] int64 (the sequence's hot blocks, then -1), hot_positions [S, KvH] int32 of this layer:
//        which position each GPU pool row holds as a hot row (-1: none)
//   out  out_segments [B, SG, 3] = (0, n, recent start) and out_listed [B, SG, KO] int32: the n = min(sinks +
//        listed, hot capacity) attended positions of the sinks and the list in hot-slot order; the rows copied;
//        hot_positions updated; counters [4] int64 accumulated: entries, rows copied from GPU blocks, from the CPU
//        tier, bytes read from the CPU tier
// Slot assignment (deterministic): slot j < n keeps its row if its position is listed again; the positions not kept
// (in list order) take the remaining slots j < n (ascending); slots j >= n are emptied. With SG = 1 a slot holds the
// same position in every KV head; with SG = KvH each head has its own. A sequence without hot blocks keeps its
// selection as given (the attention kernel reads it through the block table). The C# reference is HotSetReference.cs.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

#include "paged_decode_attention.cuh"

namespace alisa {

struct HotSetArgs {
  KvFormat format;
  int row_bytes;               // bytes of one K or V row: D * element size, or D codes for INT8 (+ 4 parameter bytes)
  KvPoolView gpu;              // read, and written at hot rows
  KvPoolView cpu;
  const int64_t* block_table;  // [B, max_blocks]
  int max_blocks;
  int64_t gpu_blocks;
  const int64_t* hot_table;    // [B, max_hot_blocks]
  int max_hot_blocks;
  int32_t* hot_positions;      // [S, KvH] of this layer
  const int64_t* lengths;      // [B]
  const int32_t* segments;     // [B, SG, 3]
  const int32_t* listed;       // [B, SG, max_listed]
  int max_listed;
  int32_t* out_segments;       // [B, SG, 3]
  int32_t* out_listed;         // [B, SG, max_out]
  int max_out;
  int64_t* counters;           // [4]
  int batch, selection_groups, kv_heads, block_size;
};

// Returns nullptr on success, else a message naming the unsupported argument.
const char* launch_hot_set_update(const HotSetArgs& args, cudaStream_t stream);

}  // namespace alisa
