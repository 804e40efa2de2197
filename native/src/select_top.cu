// select_top: layouts, semantics and the algorithm in select_top.cuh. Reference: torch.topk on the same ranking
// (alisa native-check compares the values taken).
#include "select_top.cuh"

namespace alisa {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 256;

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
  for (int w = 0; w < kWarps; w++) {
    if (w == warp) before += sum;
    sum += warp_counts[w];
  }
  *total = sum;
  __syncthreads();  // warp_counts is reused by the next call
  return before;
}

__global__ void __launch_bounds__(kThreads) select_top_kernel(int32_t* __restrict__ listed, const float* __restrict__ ranking,
                                                             const int32_t* __restrict__ segments, int length, int k) {
  const float* row = ranking + static_cast<int64_t>(blockIdx.x) * length;
  int32_t* out = listed + static_cast<int64_t>(blockIdx.x) * k;
  const int count = min(max(segments[blockIdx.x * 3 + 1], 0), k);
  for (int s = count + threadIdx.x; s < k; s += kThreads) out[s] = 0;  // unread padding
  if (count == 0) return;
  __shared__ int histogram[kBins];
  __shared__ int warp_counts[kWarps];
  __shared__ uint32_t prefix_s;
  __shared__ int remaining_s;

  // find the count-th largest key, 8 bits at a time from the top: `prefix` holds the bits fixed so far
  uint32_t prefix = 0, prefix_mask = 0;
  int remaining = count;  // how many of the keys matching `prefix` are still to be taken
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < kBins; i += kThreads) histogram[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < length; i += kThreads) {
      const uint32_t key = order_key(row[i]);
      if ((key & prefix_mask) == prefix) atomicAdd(&histogram[(key >> shift) & 0xffu], 1);
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // the bin, from the top, where the count reaches `remaining`: lane owns 8 bins
      const int lane = threadIdx.x, first = lane * (kBins / 32);
      int mine = 0;
      for (int j = 0; j < kBins / 32; j++) mine += histogram[first + j];
      int suffix = mine;  // keys in the bins of this lane and the lanes above
      for (int o = 1; o < 32; o *= 2) {
        const int other = __shfl_down_sync(0xffffffffu, suffix, o);
        if (lane + o < 32) suffix += other;
      }
      const int above = suffix - mine;
      if ((above < remaining && remaining <= suffix) || (lane == 0 && suffix < remaining)) {
        int bin = first + kBins / 32 - 1, taken = above;
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
  for (int base = 0; base < length; base += kThreads) {
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

}  // namespace

const char* launch_select_top(int32_t* listed, const float* ranking, const int32_t* segments, int64_t rows, int64_t length,
                              int64_t k, cudaStream_t stream) {
  if (rows == 0 || k == 0) return nullptr;
  select_top_kernel<<<rows, kThreads, 0, stream>>>(listed, ranking, segments, static_cast<int>(length), static_cast<int>(k));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
