// select_top's work for one row, by one thread block of kSelectThreads threads (algorithm in select_top.cuh), shared by
// select_top_kernel and window_slide_select_kernel.
#pragma once
#include <cstdint>

namespace alisa {

constexpr int kSelectThreads = 256;
constexpr int kSelectWarps = kSelectThreads / 32;
constexpr int kSelectBins = 256;

// Larger float, larger key (negative floats have their bits flipped, positive ones their sign bit set).
__device__ inline uint32_t order_key(float value) {
  const uint32_t bits = __float_as_uint(value);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

// Exclusive block-wide prefix count of `flag` over the threads in order; *total gets the block's count.
__device__ inline int block_prefix(bool flag, int* warp_counts, int* total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  if (lane == 0) warp_counts[warp] = __popc(ballot);
  __syncthreads();
  int before = __popc(ballot & ((1u << lane) - 1u)), sum = 0;
  for (int w = 0; w < kSelectWarps; w++) {
    if (w == warp) before += sum;
    sum += warp_counts[w];
  }
  *total = sum;
  __syncthreads();  // warp_counts is reused by the next call
  return before;
}

// The positions of row's largest values into out[0, count), count = min(segment[1], k), ascending; then zeros.
// `row` is not __restrict__: window_slide_select_kernel writes it earlier in the same launch, and a non-coherent load
// must not read it.
__device__ inline void select_row(int32_t* __restrict__ out, const float* row, const int32_t* __restrict__ segment,
                                  int length, int k) {
  const int count = min(max(segment[1], 0), k);
  for (int s = count + threadIdx.x; s < k; s += kSelectThreads) out[s] = 0;  // unread padding
  if (count == 0) return;
  __shared__ int histogram[kSelectBins];
  __shared__ int warp_counts[kSelectWarps];
  __shared__ uint32_t prefix_s;
  __shared__ int remaining_s;

  // find the count-th largest key, 8 bits at a time from the top: `prefix` holds the bits fixed so far
  uint32_t prefix = 0, prefix_mask = 0;
  int remaining = count;  // how many of the keys matching `prefix` are still to be taken
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < kSelectBins; i += kSelectThreads) histogram[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < length; i += kSelectThreads) {
      const uint32_t key = order_key(row[i]);
      if ((key & prefix_mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xffu], 1);
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // the bin, from the top, where the count reaches `remaining`: lane owns 8 bins
      const int lane = threadIdx.x, first = lane * (kSelectBins / 32);
      int mine = 0;
      for (int j = 0; j < kSelectBins / 32; j++) mine += histogram[first + j];
      int suffix = mine;  // keys in the bins of this lane and the lanes above
      for (int o = 1; o < 32; o *= 2) {
        const int other = __shfl_down_sync(0xffffffffu, suffix, o);
        if (lane + o < 32) suffix += other;
      }
      const int above = suffix - mine;
      if ((above < remaining && remaining <= suffix) || (lane == 0 && suffix < remaining)) {
        int bin = first + kSelectBins / 32 - 1, taken = above;
        for (; bin > first && taken + histogram[bin] < remaining; bin--) taken += histogram[bin];
        prefix_s = prefix | (static_cast<uint32_t>(bin) << shift);
        remaining_s = remaining - taken;
      }
    }
    __syncthreads();
    prefix = prefix_s;
    remaining = remaining_s;
    prefix_mask |= 0xffu << shift;
  }

  // keys above the threshold are all taken, keys equal to it the first `remaining` by position
  int written = 0, equal_before = 0;
  for (int base = 0; base < length; base += kSelectThreads) {
    const int i = base + threadIdx.x;
    const uint32_t key = i < length ? order_key(row[i]) : 0u;
    const bool equal = i < length && key == prefix;
    int equal_total, taken_total;
    const int equal_rank = equal_before + block_prefix(equal, warp_counts, &equal_total);
    const bool take = i < length && (key > prefix || (equal && equal_rank < remaining));
    const int slot = written + block_prefix(take, warp_counts, &taken_total);
    if (take && slot < count) out[slot] = i;
    written += taken_total;
    equal_before += equal_total;
  }
}

}  // namespace alisa
