// SWA's windowed attention sums, kept per logical KV slot (see src/GpuWorker/Attention/TokenScores.cs):
//   history [G, R, S] fp32  each slot's weight at the last R steps (column = step mod R), G = 1 or the KV heads;
//                           or fp16 (history_half), and then each weight enters the sum as the ring stores it
//   sums    [G, S]    fp32  the slot's weight summed over the score window
// Slots last: a sequence's positions hold adjacent slots within a block, so the threads of a warp that take adjacent
// positions of one group read and write adjacent entries (slots first put each entry in a sector of its own).
// A decode step updates them around its attention in two launches (window_scores.cu), replacing ~21 TorchSharp ops
// per layer (ScoreKeeping: reset, slide, scatter of the weights, record; TokenSelector's ranking):
//   window_slide   before selecting: per row b and position l < lengths[b] (slot = read_slots[b, l]):
//                  the newest position (l = lengths[b] - 1) starts empty (history row and sum zero); older ones
//                  lose the steps leaving the window (sums -= history[.., leaving[b, j]] for leaving[b, j] >= 0)
//                  and have this step's column cleared (history[.., columns[b]] = 0).
//                  With `ranking`, in the same pass, what SWA's selection ranks by: ranking [B, SG, L] fp32 = the
//                  new window sum of position l where sinks <= l < recent start (segments [B, SG, 3] int32 = sinks,
//                  global budget, recent start), else -inf; needs SG = G (per-head selections of per-head sums, or
//                  one of one).
//   window_ranking the ranking alone, for one selection per layer over per-head sums (SG = 1 < G: the sum over the G
//                  groups, in order).
//   window_record  after attention: adds each attended entry's weight to the column and the sum. The weight comes
//                  from the attention kernel's logits [B, H, n] and lse [B, H] (H = KvH * QG): exp(logit - lse)
//                  summed over the KV head's query group, and with G = 1 over the KV heads in order (one selection
//                  per layer: all heads attend the same positions); the entry's position from the selection
//                  (selection.cuh: segments/listed, SG = 1 or KvH). Entries past a row's count and zero weights write
//                  nothing.
// read_slots [B, L], lengths [B], columns [B], leaving [B, J] int64, contiguous.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

struct WindowScoresArgs {
  void* history;             // float, or __half with history_half
  bool history_half;
  float* sums;
  int64_t groups, ring, slots;
  const int64_t* read_slots;
  const int64_t* lengths;
  const int64_t* columns;
  int64_t batch, key_length;
  const int64_t* leaving;  // window_slide
  int64_t leaving_width;
  const int32_t* segments;  // window_slide (with ranking), window_ranking, window_record
  int64_t selection_groups;
  float* ranking;           // window_slide (optional), window_ranking
  const float* logits;      // window_record
  const float* lse;
  const int32_t* listed;
  int64_t max_listed, kv_heads, query_groups, entries;
};

const char* launch_window_slide(const WindowScoresArgs& args, cudaStream_t stream);
const char* launch_window_record(const WindowScoresArgs& args, cudaStream_t stream);
const char* launch_window_ranking(const WindowScoresArgs& args, cudaStream_t stream);
// window_slide with its ranking (SG = G), then select_top over that ranking into listed [B, G, k] (k >= 1), in one
// launch (window_slide_select.cu).
const char* launch_window_slide_select(const WindowScoresArgs& args, int32_t* listed, int64_t k, cudaStream_t stream);

}  // namespace alisa
