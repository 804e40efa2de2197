// Stores the new tokens' K and V rows in the paged pool in one launch:
//   key_pool[slots[b*T + t], h, :] = key[b, h, t, :]   (and value_pool from value)
// key/value [B, KvH, T, D] with strides (stride_b, stride_h, stride_t, 1), e.g. head views of the fused QKV
// projection; pools [S, KvH, D] contiguous; slots [B*T] int64. One thread per element pair.
#include "elementwise.cuh"
#include "element_types.cuh"

namespace alisa {
namespace {

template <typename T>
__global__ void kv_write_kernel(T* __restrict__ key_pool, T* __restrict__ value_pool, const T* __restrict__ key,
                                const T* __restrict__ value, const int64_t* __restrict__ slots, int64_t kv_heads,
                                int64_t tokens, int64_t head_dim, int64_t stride_b, int64_t stride_h, int64_t stride_t,
                                int64_t total) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = e % head_dim, h = (e / head_dim) % kv_heads, t = (e / (head_dim * kv_heads)) % tokens,
                  b = e / (head_dim * kv_heads * tokens);
    const int64_t source = b * stride_b + h * stride_h + t * stride_t + d;
    const int64_t target = (slots[b * tokens + t] * kv_heads + h) * head_dim + d;
    key_pool[target] = key[source];
    value_pool[target] = value[source];
  }
}

}  // namespace

const char* launch_kv_write(const KvWriteArgs& a, cudaStream_t stream) {
  const int64_t total = a.batch * a.kv_heads * a.tokens * a.head_dim;
  if (total == 0) return nullptr;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads < 65535 ? (total + threads - 1) / threads : 65535;
  ALISA_DISPATCH_TYPE(a.type, kv_write_kernel<T><<<blocks, threads, 0, stream>>>(
      static_cast<T*>(a.key_pool), static_cast<T*>(a.value_pool), static_cast<const T*>(a.key),
      static_cast<const T*>(a.value), a.slots, a.kv_heads, a.tokens, a.head_dim, a.stride_b, a.stride_h, a.stride_t, total));
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
