// window_slide and select_top in one launch, for the usual SWA step (one selection group per score group, SG = G):
// one thread block per selection row (b, g) slides the row's positions, writing their ranking, then selects the row's
// top entries from it. The two launches it replaces did the same work per row; fusing them saves a launch and its gap
// per layer. Layouts and semantics: window_scores.cuh (window_slide) and select_top.cuh (select_top); reference: those
// two launches, which alisa native-check compares it with (exactly: the arithmetic is the same).
#include "select_row.cuh"
#include "window_scores.cuh"
#include "window_slide.cuh"

namespace alisa {
namespace {

template <typename H>
__global__ void __launch_bounds__(kSelectThreads) window_slide_select_kernel(WindowScoresArgs a, int32_t* __restrict__ listed, int k) {
  const int64_t row = blockIdx.x, b = row / a.groups, g = row % a.groups;
  for (int64_t l = threadIdx.x; l < a.key_length; l += kSelectThreads) slide_position<H>(a, b, l, g);
  __syncthreads();  // the row's ranking, written above, is what the select reads
  select_row(listed + row * k, a.ranking + row * a.key_length, a.segments + row * 3, static_cast<int>(a.key_length), k);
}

}  // namespace

const char* launch_window_slide_select(const WindowScoresArgs& a, int32_t* listed, int64_t k, cudaStream_t stream) {
  const int64_t rows = a.batch * a.groups;
  if (rows == 0) return nullptr;
  if (a.history_half) window_slide_select_kernel<__half><<<rows, kSelectThreads, 0, stream>>>(a, listed, static_cast<int>(k));
  else window_slide_select_kernel<float><<<rows, kSelectThreads, 0, stream>>>(a, listed, static_cast<int>(k));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
