// RMSNorm of each row, as transformers computes it, optionally after the residual add that precedes it:
//   sum = x + delta (rounded to the storage type, as torch's add rounds; written to `sum`)
//   out = weight * cast(sum * rsqrt(mean(sum^2) + eps))   (normalised in float32, cast, the product rounded once more)
// x, delta, sum, out [rows, hidden] contiguous; weight [hidden]; delta and sum both null for a plain norm.
// One block per row. A thread loads its K packs of the row (16 bytes each where the hidden size and the pointers
// allow), the delta and the weight all at once and keeps them in registers: one round trip to memory before the
// block's reduction instead of two (at decode batch sizes a launch is latency, not bandwidth). Replaces eight
// elementwise launches, nine with the add.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPacksPerThread = 16;

template <typename T, int N, int K>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(T* __restrict__ out, T* __restrict__ sum, const T* __restrict__ x,
                                                            const T* __restrict__ delta, const T* __restrict__ weight,
                                                            int hidden, float eps) {
  using P = Pack<T, N>;
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * hidden;
  const int packs = hidden / N;
  const P* row = reinterpret_cast<const P*>(x + offset);
  const P* add = reinterpret_cast<const P*>(delta + offset);
  const P* weights = reinterpret_cast<const P*>(weight);
  P v[K], w[K];
#pragma unroll
  for (int j = 0; j < K; j++) {
    const int p = threadIdx.x + j * kThreads;
    if (p >= packs) continue;
    v[j] = row[p];
    w[j] = weights[p];
  }
  float squares = 0.f;
#pragma unroll
  for (int j = 0; j < K; j++) {
    const int p = threadIdx.x + j * kThreads;
    if (p >= packs) continue;
    if (delta) {
      const P d = add[p];
#pragma unroll
      for (int k = 0; k < N; k++) v[j].v[k] = from_float<T>(to_float(v[j].v[k]) + to_float(d.v[k]));
      reinterpret_cast<P*>(sum + offset)[p] = v[j];
    }
#pragma unroll
    for (int k = 0; k < N; k++) squares += to_float(v[j].v[k]) * to_float(v[j].v[k]);
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
  P* out_row = reinterpret_cast<P*>(out + offset);
#pragma unroll
  for (int j = 0; j < K; j++) {
    const int p = threadIdx.x + j * kThreads;
    if (p >= packs) continue;
    P o;
#pragma unroll
    for (int k = 0; k < N; k++) o.v[k] = from_float<T>(to_float(w[j].v[k]) * to_float(from_float<T>(to_float(v[j].v[k]) * scale)));
    out_row[p] = o;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The smallest packs-per-thread count (a power of two) that covers the row.
template <typename T, int N>
const char* launch_packed(T* out, T* sum, const T* x, const T* delta, const T* weight, int64_t rows, int hidden, float eps,
                          cudaStream_t stream) {
  const int per_thread = (hidden / N + kThreads - 1) / kThreads;
  const dim3 grid(static_cast<unsigned>(rows));
  if (per_thread <= 1) rms_norm_kernel<T, N, 1><<<grid, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else if (per_thread <= 2) rms_norm_kernel<T, N, 2><<<grid, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else if (per_thread <= 4) rms_norm_kernel<T, N, 4><<<grid, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else if (per_thread <= 8) rms_norm_kernel<T, N, 8><<<grid, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else if (per_thread <= kMaxPacksPerThread)
    rms_norm_kernel<T, N, kMaxPacksPerThread><<<grid, kThreads, 0, stream>>>(out, sum, x, delta, weight, hidden, eps);
  else return "rms_norm: the hidden size is larger than a block keeps in registers (16 x 256 loads per row)";
  return nullptr;
}

template <typename T>
const char* launch(T* out, T* sum, const T* x, const T* delta, const T* weight, int64_t rows, int hidden, float eps, cudaStream_t stream) {
  constexpr int kPack = 16 / sizeof(T);
  const bool packed = hidden % kPack == 0 && aligned16(out) && aligned16(x) && aligned16(weight) &&
                      (delta == nullptr || (aligned16(delta) && aligned16(sum)));
  return packed ? launch_packed<T, kPack>(out, sum, x, delta, weight, rows, hidden, eps, stream)
                : launch_packed<T, 1>(out, sum, x, delta, weight, rows, hidden, eps, stream);
}

}  // namespace

const char* launch_rms_norm(ElementType type, void* out, void* sum, const void* x, const void* delta, const void* weight,
                            int64_t rows, int hidden, float eps, cudaStream_t stream) {
  if (rows == 0) return nullptr;
  const char* refused = "unsupported element type";
  ALISA_DISPATCH_TYPE(type, refused = launch<T>(static_cast<T*>(out), static_cast<T*>(sum), static_cast<const T*>(x),
                                                 static_cast<const T*>(delta), static_cast<const T*>(weight), rows, hidden, eps, stream));
  if (refused) return refused;
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
