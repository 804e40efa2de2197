// SWA's window score upkeep: layouts and semantics in window_scores.cuh. Reference: the TorchSharp ScoreKeeping
// (Reset, Slide, scatter_add of the weights, RecordWindow), which alisa native-check compares with.
#include "window_scores.cuh"
#include "element_types.cuh"
#include "selection.cuh"
#include "window_slide.cuh"

#include <cmath>

namespace alisa {
namespace {

// One thread per (b, g, l), l fastest (a warp's slots are mostly adjacent): positions of a row hold distinct slots, so
// no two threads touch one store entry.
template <typename H>
__global__ void window_slide_kernel(WindowScoresArgs a) {
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= a.batch * a.groups * a.key_length) return;
  slide_position<H>(a, index / (a.groups * a.key_length), index % a.key_length, (index / a.key_length) % a.groups);
}

// `lanes` adjacent threads per (b, group, entry), each summing every lanes-th KV head, then a shuffle reduction: with
// one group per layer an entry sums all KV heads (32 of a 7B model), and one thread per entry left most of the GPU idle
// while it waited on 32 loads. The entries of one row and group attend distinct positions. No thread leaves before the
// shuffle, so every lane of a warp takes part in it.
template <typename H>
__global__ void window_record_kernel(WindowScoresArgs a, int lanes) {
  const int64_t thread = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t index = thread / lanes;
  const int lane = static_cast<int>(thread % lanes);
  float weight = 0.f;
  int64_t slot = -1, b = 0, g = 0;
  if (index < a.batch * a.groups * a.entries) {
    const int64_t e = index % a.entries;
    g = (index / a.entries) % a.groups;
    b = index / (a.entries * a.groups);
    const Selection sel = selection_of(a.segments, a.listed, static_cast<int>(a.selection_groups), static_cast<int>(a.max_listed),
                                       static_cast<int>(b), static_cast<int>(g), static_cast<int>(a.lengths[b]));
    if (e < sel.total) {
      // the group's query heads summed per KV head; with G = 1 all KV heads, this lane's share of them
      const int64_t first_head = a.groups == 1 ? 0 : g, last_head = a.groups == 1 ? a.kv_heads : g + 1;
#pragma unroll 4
      for (int64_t h = first_head + lane; h < last_head; h += lanes)
        for (int64_t q = 0; q < a.query_groups; q++) {
          const int64_t head = (b * a.kv_heads + h) * a.query_groups + q;
          weight += __expf(a.logits[head * a.entries + e] - a.lse[head]);
        }
      slot = a.read_slots[b * a.key_length + sel.position(static_cast<int>(e))];
    }
  }
  for (int offset = lanes / 2; offset > 0; offset /= 2) weight += __shfl_xor_sync(0xffffffffu, weight, offset, lanes);
  if (lane != 0 || slot < 0 || weight == 0.f) return;
  H& entry = static_cast<H*>(a.history)[(g * a.ring + a.columns[b]) * a.slots + slot];  // cleared by this step's slide
  const float stored = to_float(from_float<H>(weight));
  entry = from_float<H>(to_float(entry) + stored);
  a.sums[g * a.slots + slot] += stored;
}

// One thread per (b, s, l); only for SG = 1 < G (window_slide ranks the others in its pass).
__global__ void window_ranking_kernel(WindowScoresArgs a) {
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= a.batch * a.selection_groups * a.key_length) return;
  const int64_t l = index % a.key_length, bs = index / a.key_length;
  const int32_t* segment = a.segments + bs * 3;
  float rank = -INFINITY;
  if (l >= segment[0] && l < segment[2]) {
    const int64_t b = bs / a.selection_groups, s = bs % a.selection_groups;
    const float* sums = a.sums + a.read_slots[b * a.key_length + l];  // group g at g * slots
    if (a.selection_groups == 1) {
      rank = sums[0];
      for (int64_t g = 1; g < a.groups; g++) rank += sums[g * a.slots];
    } else {
      rank = sums[s * a.slots];
    }
  }
  a.ranking[index] = rank;
}

const char* launched() {
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace

const char* launch_window_slide(const WindowScoresArgs& a, cudaStream_t stream) {
  const int64_t threads = a.batch * a.groups * a.key_length;
  if (threads == 0) return nullptr;
  if (a.history_half) window_slide_kernel<__half><<<(threads + 255) / 256, 256, 0, stream>>>(a);
  else window_slide_kernel<float><<<(threads + 255) / 256, 256, 0, stream>>>(a);
  return launched();
}

const char* launch_window_record(const WindowScoresArgs& a, cudaStream_t stream) {
  // lanes: a power of two (the shuffle's width), at most the KV heads one entry sums
  int lanes = 1;
  while (a.groups == 1 && lanes < 8 && lanes * 2 <= a.kv_heads) lanes *= 2;
  const int64_t threads = a.batch * a.groups * a.entries * lanes;
  if (threads == 0) return nullptr;
  if (a.history_half) window_record_kernel<__half><<<(threads + 255) / 256, 256, 0, stream>>>(a, lanes);
  else window_record_kernel<float><<<(threads + 255) / 256, 256, 0, stream>>>(a, lanes);
  return launched();
}

const char* launch_window_ranking(const WindowScoresArgs& a, cudaStream_t stream) {
  const int64_t threads = a.batch * a.selection_groups * a.key_length;
  if (threads == 0) return nullptr;
  window_ranking_kernel<<<(threads + 255) / 256, 256, 0, stream>>>(a);
  return launched();
}

}  // namespace alisa
