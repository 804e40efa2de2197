// SWA's windowed attention sums, kept per logical KV slot (see src/GpuWorker/Attention/TokenScores.cs):
//   history [S, G, R] fp32  each slot's weight at the last R steps (column = step mod R), G = 1 or the KV heads
//   sums    [S, G]    fp32  the slot's weight summed over the score window
// A decode step updates them around its attention in two launches (window_scores.cu), replacing ~11 TorchSharp ops
// per layer (ScoreKeeping: reset, slide, scatter of the weights, record):
//   window_slide   before selecting: per row b and position l < lengths[b] (slot = read_slots[b, l]):
//                  the newest position (l = lengths[b] - 1) starts empty (history row and sum zero); older ones
//                  lose the steps leaving the window (sums -= history[.., leaving[b, j]] for leaving[b, j] >= 0)
//                  and have this step's column cleared (history[.., columns[b]] = 0)
//   window_record  after attention: adds each attended entry's weight (weights/positions [B, KvH, n] from
//                  attention_weights; zero weights skipped, so padding entries write nothing) to the column and
//                  the sum; with G = 1 the entries of all KV heads share positions (one selection per layer) and
//                  their weights are summed over the heads in order.
//   window_ranking what SWA's selection ranks by: ranking [B, SG, L] fp32 = the window sum of position l where
//                  sinks <= l < recent start (segments [B, SG, 3] int32 = sinks, global budget, recent start), else
//                  -inf; one selection per layer (SG = 1) ranks by the sum over the G groups, per-head ones (SG = G)
//                  by their group's (replaces ~10 TorchSharp ops of TokenSelector).
// read_slots [B, L], lengths [B], columns [B], leaving [B, J] int64, contiguous.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

struct WindowScoresArgs {
  float* history;
  float* sums;
  int64_t groups, ring;
  const int64_t* read_slots;
  const int64_t* lengths;
  const int64_t* columns;
  int64_t batch, key_length;
  const int64_t* leaving;  // window_slide
  int64_t leaving_width;
  const float* weights;    // window_record
  const int64_t* positions;
  int64_t kv_heads, entries;
  const int32_t* segments;  // window_ranking
  int64_t selection_groups;
  float* ranking;
};

const char* launch_window_slide(const WindowScoresArgs& args, cudaStream_t stream);
const char* launch_window_record(const WindowScoresArgs& args, cudaStream_t stream);
const char* launch_window_ranking(const WindowScoresArgs& args, cudaStream_t stream);

}  // namespace alisa
