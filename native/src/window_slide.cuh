// window_slide's work for one position (semantics in window_scores.cuh), shared by window_slide_kernel and
// window_slide_select_kernel. Positions of a row hold distinct slots, so no two positions touch one store entry (past a
// row's length, padding points at the scratch slot and only ranks).
#pragma once
#include "element_types.cuh"
#include "window_scores.cuh"

#include <cmath>

namespace alisa {

template <typename H>
__device__ inline void slide_position(const WindowScoresArgs& a, int64_t b, int64_t l, int64_t g) {
  const int64_t length = a.lengths[b];
  const int64_t slot = a.read_slots[b * a.key_length + l], store = g * a.slots + slot;
  float sum = a.sums[store];
  if (l < length) {
    H* history = static_cast<H*>(a.history) + g * a.ring * a.slots + slot;  // column c at c * slots
    if (l == length - 1) {  // the token fed this step: fresh scores
      for (int64_t c = 0; c < a.ring; c++) history[c * a.slots] = from_float<H>(0.f);
      sum = 0.f;
    } else {
      for (int64_t j = 0; j < a.leaving_width; j++) {
        const int64_t column = a.leaving[b * a.leaving_width + j];
        if (column >= 0) sum -= to_float(history[column * a.slots]);
      }
      history[a.columns[b] * a.slots] = from_float<H>(0.f);
    }
    a.sums[store] = sum;
  }
  if (a.ranking != nullptr) {  // SG = G: selection group g ranks by score group g
    const int64_t row = b * a.groups + g;
    const int32_t* segment = a.segments + row * 3;
    a.ranking[row * a.key_length + l] = l >= segment[0] && l < segment[2] ? sum : -INFINITY;
  }
}

}  // namespace alisa
