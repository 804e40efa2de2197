// select_top: layouts, semantics and the algorithm in select_top.cuh. Reference: torch.topk on the same ranking
// (alisa native-check compares the values taken).
#include "select_top.cuh"
#include "select_row.cuh"

namespace alisa {
namespace {

__global__ void __launch_bounds__(kSelectThreads) select_top_kernel(int32_t* __restrict__ listed, const float* __restrict__ ranking,
                                                                   const int32_t* __restrict__ segments, int length, int k) {
  select_row(listed + static_cast<int64_t>(blockIdx.x) * k, ranking + static_cast<int64_t>(blockIdx.x) * length, segments + blockIdx.x * 3,
             length, k);
}

}  // namespace

const char* launch_select_top(int32_t* listed, const float* ranking, const int32_t* segments, int64_t rows, int64_t length,
                              int64_t k, cudaStream_t stream) {
  if (rows == 0 || k == 0) return nullptr;
  select_top_kernel<<<rows, kSelectThreads, 0, stream>>>(listed, ranking, segments, static_cast<int>(length), static_cast<int>(k));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
