// SWA's window score upkeep: layouts and semantics in window_scores.cuh. Reference: the TorchSharp ScoreKeeping
// (Reset, Slide, scatter_add of the weights, RecordWindow), which alisa native-check compares with.
#include "window_scores.cuh"

#include <cmath>

namespace alisa {
namespace {

// One thread per (b, g, l): positions of a row hold distinct slots, so no two threads touch one store entry
// (past a row's length, padding points at the scratch slot and is skipped).
__global__ void window_slide_kernel(WindowScoresArgs a) {
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= a.batch * a.groups * a.key_length) return;
  const int64_t l = index % a.key_length, g = (index / a.key_length) % a.groups, b = index / (a.key_length * a.groups);
  const int64_t length = a.lengths[b];
  if (l >= length) return;
  const int64_t store = a.read_slots[b * a.key_length + l] * a.groups + g;
  float* history = a.history + store * a.ring;
  if (l == length - 1) {  // the token fed this step: fresh scores
    for (int64_t c = 0; c < a.ring; c++) history[c] = 0.f;
    a.sums[store] = 0.f;
    return;
  }
  float sum = a.sums[store];
  for (int64_t j = 0; j < a.leaving_width; j++) {
    const int64_t column = a.leaving[b * a.leaving_width + j];
    if (column >= 0) sum -= history[column];
  }
  a.sums[store] = sum;
  history[a.columns[b]] = 0.f;
}

// One thread per (b, group, entry): nonzero entries of one row and group have distinct positions.
__global__ void window_record_kernel(WindowScoresArgs a) {
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= a.batch * a.groups * a.entries) return;
  const int64_t e = index % a.entries, g = (index / a.entries) % a.groups, b = index / (a.entries * a.groups);
  const int64_t first = (b * a.kv_heads + (a.groups == 1 ? 0 : g)) * a.entries + e;
  float weight = a.weights[first];
  if (a.groups == 1)
#pragma unroll 8  // the heads' loads in flight together
    for (int64_t h = 1; h < a.kv_heads; h++) weight += a.weights[(b * a.kv_heads + h) * a.entries + e];
  if (weight == 0.f) return;
  const int64_t store = a.read_slots[b * a.key_length + a.positions[first]] * a.groups + g;
  a.history[store * a.ring + a.columns[b]] += weight;
  a.sums[store] += weight;
}

// One thread per (b, s, l).
__global__ void window_ranking_kernel(WindowScoresArgs a) {
  const int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (index >= a.batch * a.selection_groups * a.key_length) return;
  const int64_t l = index % a.key_length, bs = index / a.key_length;
  const int32_t* segment = a.segments + bs * 3;
  float rank = -INFINITY;
  if (l >= segment[0] && l < segment[2]) {
    const int64_t b = bs / a.selection_groups, s = bs % a.selection_groups;
    const float* sums = a.sums + a.read_slots[b * a.key_length + l] * a.groups;
    if (a.selection_groups == 1) {
      rank = sums[0];
      for (int64_t g = 1; g < a.groups; g++) rank += sums[g];
    } else {
      rank = sums[s];
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
  window_slide_kernel<<<(threads + 255) / 256, 256, 0, stream>>>(a);
  return launched();
}

const char* launch_window_record(const WindowScoresArgs& a, cudaStream_t stream) {
  const int64_t threads = a.batch * a.groups * a.entries;
  if (threads == 0) return nullptr;
  window_record_kernel<<<(threads + 255) / 256, 256, 0, stream>>>(a);
  return launched();
}

const char* launch_window_ranking(const WindowScoresArgs& a, cudaStream_t stream) {
  const int64_t threads = a.batch * a.selection_groups * a.key_length;
  if (threads == 0) return nullptr;
  window_ranking_kernel<<<(threads + 255) / 256, 256, 0, stream>>>(a);
  return launched();
}

}  // namespace alisa
