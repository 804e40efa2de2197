// RMSNorm of each row, as transformers computes it, optionally after the residual add that precedes it:
//   sum = x + delta (rounded to the storage type, as torch's add rounds; written to `sum`)
//   out = weight * cast(sum * rsqrt(mean(sum^2) + eps))   (normalised in float32, cast, the product rounded once more)
// x, delta, sum, out [rows, hidden] contiguous; weight [hidden]; delta and sum both null for a plain norm.
// One block per row, rows read as 16-byte packs where the hidden size and the pointers allow. Replaces eight
// elementwise launches, nine with the add (a decode step's launches are mostly this small).
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

constexpr int kThreads = 256;

template <typename T, int N>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(T* __restrict__ out, T* __restrict__ sum, const T* __restrict__ x,
                                                            const T* __restrict__ delta, const T* __restrict__ weight,
                                                            int hidden, float eps) {
  using P = Pack<T, N>;
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  const int packs = hidden / N;
  const P* row = reinterpret_cast<const P*>(x + offset);
  const P* add = delta ? reinterpret_cast<const P*>(delta + offset) : nullptr;
  P* summed = delta ? reinterpret_cast<P*>(sum + offset) : nullptr;
  float squares = 0.f;
  for (int p = threadIdx.x; p < packs; p += kThreads) {
    P v = row[p];
    if (add) {
      const P d = add[p];
#pragma unroll
      for (int k = 0; k < N; k++) v.v[k] = from_float<T>(to_float(v.v[k]) + to_float(d.v[k]));
      summed[p] = v;
    }
#pragma unroll
    for (int k = 0; k < N; k++) squares += to_float(v.v[k]) * to_float(v.v[k]);
  }
  __shared__ float partial[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) squares += __shfl_xor_sync(0xffffffffu, squares, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = squares;
  __syncthreads();
  if (threadIdx.x < 32) {
    float total = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o /= 2) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (threadIdx.x == 0) partial[0] = total;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / hidden + eps);
  const P* normed = add ? summed : row;  // each thread re-reads only the packs it wrote itself
  const P* weights = reinterpret_cast<const P*>(weight);
  P* out_row = reinterpret_cast<P*>(out + offset);
  for (int p = threadIdx.x; p < packs; p += kThreads) {
    const P v = normed[p], w = weights[p];
    P o;
#pragma unroll
    for (int k = 0; k < N; k++) o.v[k] = from_float<T>(to_float(w.v[k]) * to_float(from_float<T>(to_float(v.v[k]) * scale)));
    out_row[p] = o;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename T>
void launch(T* out, T* sum, const T* x, const T* delta, const T* weight, int64_t rows, int hidden, float eps, cudaStream_t stream) {
  constexpr int kPack = 16 / sizeof(T);
  const bool packed = hidden % kPack == 0 && aligned16(out) && aligned16(x) && aligned16(weight) &&
                      (delta == nullptr || (aligned16(delta) && aligned16(sum)));
  if (packed)
    rms_norm_kernel<T, kPack><<<rows, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else
    rms_norm_kernel<T, 1><<<rows, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
}

}  // namespace

const char* launch_rms_norm(ElementType type, void* out, void* sum, const void* x, const void* delta, const void* weight,
                            int64_t rows, int hidden, float eps, cudaStream_t stream) {
  if (rows == 0) return nullptr;
  ALISA_DISPATCH_TYPE(type, launch<T>(static_cast<T*>(out), static_cast<T*>(sum), static_cast<const T*>(x),
                                      static_cast<const T*>(delta), static_cast<const T*>(weight), rows, hidden, eps, stream));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
