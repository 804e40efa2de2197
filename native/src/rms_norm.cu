// RMSNorm of each row, as transformers computes it: the row is normalised in float32, cast to the storage type,
// then multiplied by the weight (the product rounded once more): out = weight * cast(x * rsqrt(mean(x^2) + eps)).
// x, out [rows, hidden] contiguous; weight [hidden]. One block per row; replaces eight elementwise launches.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(T* __restrict__ out, const T* __restrict__ x,
                                                            const T* __restrict__ weight, int hidden, float eps) {
  const T* row = x + static_cast<int64_t>(blockIdx.x) * hidden;
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * hidden;
  float sum = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    const float v = to_float(row[i]);
    sum += v * v;
  }
  __shared__ float partial[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    float total = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o /= 2) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (threadIdx.x == 0) partial[0] = total;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    const float normed = to_float(from_float<T>(to_float(row[i]) * scale));
    out_row[i] = from_float<T>(to_float(weight[i]) * normed);
  }
}

}  // namespace

const char* launch_rms_norm(ElementType type, void* out, const void* x, const void* weight, int64_t rows, int hidden,
                            float eps, cudaStream_t stream) {
  if (rows == 0) return nullptr;
  ALISA_DISPATCH_TYPE(type, rms_norm_kernel<T><<<rows, kThreads, 0, stream>>>(
      static_cast<T*>(out), static_cast<const T*>(x), static_cast<const T*>(weight), hidden, eps));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
