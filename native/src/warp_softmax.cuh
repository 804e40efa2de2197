// Warp reductions, and the running softmax the decode attention kernels keep per warp (FlashAttention-style): per query head g of a KV
// head's group the running max m, the sum l of exp(logit - m) and the exp-weighted sum of value rows, of which each
// lane holds kDims dims; the block's warps are then merged through shared memory.
#pragma once
#include <math_constants.h>

namespace alisa {

constexpr int kLanes = 32;
constexpr unsigned kAllLanes = 0xffffffffu;

__device__ inline float warp_max(float x) {
  for (int o = kLanes / 2; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(kAllLanes, x, o));
  return x;
}
__device__ inline float warp_sum(float x) {
  for (int o = kLanes / 2; o > 0; o /= 2) x += __shfl_xor_sync(kAllLanes, x, o);
  return x;
}

template <int G, int kDims>
__device__ inline void clear_softmax(float (&m)[G], float (&l)[G], float (&acc)[G][kDims]) {
#pragma unroll
  for (int g = 0; g < G; g++) {
    m[g] = -CUDART_INF_F;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < kDims; i++) acc[g][i] = 0.f;
  }
}

// One warp's state into acc_s [warps][G][D] and stat_s [warps][G][2] (max, sum), D = 32 * kDims.
template <int G, int kDims>
__device__ inline void store_softmax(const float (&m)[G], const float (&l)[G], const float (&acc)[G][kDims], float* acc_s,
                                     float* stat_s, int warp, int lane) {
  constexpr int D = 32 * kDims;
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int i = 0; i < kDims; i++) acc_s[(warp * G + g) * D + lane * kDims + i] = acc[g][i];
    if (lane == 0) { stat_s[(warp * G + g) * 2] = m[g]; stat_s[(warp * G + g) * 2 + 1] = l[g]; }
  }
}

// Query head g's max, sum and dim d of the weighted value sum over the block's stored warps: max -inf, sum and
// value 0 when no warp saw an entry.
struct MergedSoftmax {
  float m, l, a;
};

template <int G, int D>
__device__ inline MergedSoftmax merge_warps(const float* acc_s, const float* stat_s, int warps, int g, int d) {
  MergedSoftmax all{-CUDART_INF_F, 0.f, 0.f};
  for (int w = 0; w < warps; w++) all.m = fmaxf(all.m, stat_s[(w * G + g) * 2]);
  if (all.m != -CUDART_INF_F)
    for (int w = 0; w < warps; w++) {
      const float f = __expf(stat_s[(w * G + g) * 2] - all.m);  // 0 for a warp that saw no entry
      all.l += f * stat_s[(w * G + g) * 2 + 1];
      all.a += f * acc_s[(w * G + g) * D + d];
    }
  return all;
}

}  // namespace alisa
