// Page summaries in the decode step (KvPolicy ":summaries", reference: src/GpuWorker/Kv/PageSummaries.cs and
// src/GpuWorker/Attention/SummaryEntries.cs): per pool block (page) and KV head the sums of the keys and of the values
// it holds, as attention reads them back, and per step the tokens a selection left out, attended a page at a time
// through their mean key and value with a log(count) bias. Untiered pools only (the sums are indexed by GPU block).
//
//   sums    key_sums / value_sums [blocks, KvH, D] fp32
//   page_sums_add      after the step's write: for each row b (slot = slots[b], one new token per sequence), the
//                      stored K and V rows of every KV head are added to their block's sums; a row at offset 0 starts
//                      its block afresh (its old sums belong to a previous owner). One warp per (row, KV head, K or V).
//   summary_attention  after the attention kernel, for rows with asks[b] != 0: per (sequence b, KV head) the pages
//                      p < ceil(length / block_size) of its block table; count = the page's positions below the length
//                      less those the selection attends (selection.cuh, SG = 1 or KvH); pages with count > 0 give one
//                      entry: rest = the page's sums less its selected rows, logit = scale * q . rest / count +
//                      log(count), value rest / count. These entries join the kernel's softmax: out [B, H, D] and
//                      lse [B, H] are rewritten in place as if the kernel had attended them too (before window_record
//                      reads lse). One block of four warps per (b, KV head), a warp per page, the G query heads
//                      together; selected positions marked in a shared-memory bitmap, so a page's selection is
//                      bits of one word (the block size must divide 32).
// Rows are read back as the TorchSharp store does: INT8 as fp32 code * scale, then + min (no contraction), rounded to
// the rows' dtype; the sums accumulate in fp32.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

#include "paged_decode_attention.cuh"  // ElementType, KvFormat, KvPoolView

namespace alisa {

struct PageSumsArgs {
  ElementType type;  // the pool rows' dtype (INT8: the model's, which reading back rounds to)
  KvFormat format;
  KvPoolView pool;
  float* key_sums;
  float* value_sums;
  const int64_t* slots;  // [B]
  int batch, kv_heads, head_dim, block_size;
};

struct SummaryAttentionArgs {
  ElementType type;  // query / out
  KvFormat format;
  void* out;             // [B, H, D], rewritten
  float* lse;            // [B, H], rewritten
  const void* query;     // [B, H, D] contiguous
  KvPoolView pool;
  const float* key_sums;
  const float* value_sums;
  const int64_t* block_table;  // [B, max_blocks]
  const int64_t* lengths;      // [B]
  const int32_t* segments;     // [B, SG, 3]
  const int32_t* positions;    // [B, SG, max_listed]
  const uint8_t* asks;         // [B]
  int selection_groups, max_listed;
  int batch, kv_heads, groups, head_dim, max_blocks, block_size;
  float scale;
};

const char* launch_page_sums_add(const PageSumsArgs& args, cudaStream_t stream);
const char* launch_summary_attention(const SummaryAttentionArgs& args, cudaStream_t stream);

}  // namespace alisa
