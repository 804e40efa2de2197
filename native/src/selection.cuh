// What a sparse decode step attends, per (sequence, selection group): positions [0, sinks), `listed` positions from a
// list, and [recent_start, length). segments [B, SG, 3] int32 = (sinks, listed, recent_start); positions
// [B, SG, max_listed] int32; SG = 1 (one selection for all KV heads) or KvH. No segments: every position 0..length-1.
// Shared by the attention kernel (which reads these entries) and the kernels that consume its per-entry logits.
#pragma once
#include <cstdint>

namespace alisa {

// The attended entries of one (sequence, selection group): [0, sinks), listed positions, [recent_start, length).
struct Selection {
  int sinks, listed, recent_start, total;
  const int32_t* list;
  __device__ int position(int i) const {
    return i < sinks ? i : i < sinks + listed ? list[i - sinks] : recent_start + (i - sinks - listed);
  }
};

__device__ inline Selection selection_of(const int32_t* segments, const int32_t* positions, int selection_groups,
                                         int max_listed, int b, int kv_head, int length) {
  if (segments == nullptr) return Selection{0, 0, 0, length, nullptr};
  const int64_t group = static_cast<int64_t>(b) * selection_groups + (selection_groups > 1 ? kv_head : 0);
  const int32_t* s = segments + group * 3;
  const int recent = s[2] < length ? length - s[2] : 0;
  return Selection{s[0], s[1], s[2], s[0] + s[1] + recent, positions + group * max_listed};
}

}  // namespace alisa
