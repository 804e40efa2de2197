// page_sums_add (layouts and semantics in page_summaries.cuh): the decode step's new rows folded into their pages'
// sums. The C# reference is PageSummaries.Update (alisa native-check compares the engine with it).
#include "kv_rows.cuh"
#include "page_summaries.cuh"

namespace alisa {
namespace {

constexpr int kLanes = 32;

template <typename T, KvFormat F, int D>
__global__ void page_sums_add_kernel(PageSumsArgs a) {
  constexpr int kDims = D / kLanes;
  const int warp = static_cast<int>((blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kLanes);
  const int lane = threadIdx.x % kLanes, rows = a.batch * a.kv_heads;
  if (warp >= 2 * rows) return;
  const bool values = warp >= rows;
  const int row = values ? warp - rows : warp, b = row / a.kv_heads, h = row % a.kv_heads;
  const int64_t slot = a.slots[b], block = slot / a.block_size;
  float x[kDims];
  stored_dims<T, F, kDims>(a.pool, values, slot * a.kv_heads + h, D, lane * kDims, x);
  float* sums = (values ? a.value_sums : a.key_sums) + (block * a.kv_heads + h) * D + lane * kDims;
  const bool fresh = slot % a.block_size == 0;  // the block's first row: its old sums were a previous owner's
#pragma unroll
  for (int i = 0; i < kDims; i++) sums[i] = (fresh ? 0.f : sums[i]) + x[i];
}

template <typename T, KvFormat F>
const char* launch_dims(const PageSumsArgs& a, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = (2 * static_cast<int64_t>(a.batch) * a.kv_heads * kLanes + threads - 1) / threads;
  switch (a.head_dim) {
    case 64: page_sums_add_kernel<T, F, 64><<<blocks, threads, 0, stream>>>(a); break;
    case 128: page_sums_add_kernel<T, F, 128><<<blocks, threads, 0, stream>>>(a); break;
    default: return "page_sums_add: head dim must be 64 or 128";
  }
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

template <typename T>
const char* launch_formats(const PageSumsArgs& a, cudaStream_t stream) {
  return a.format == KvFormat::Native ? launch_dims<T, KvFormat::Native>(a, stream) : launch_dims<T, KvFormat::Int8>(a, stream);
}

}  // namespace

const char* launch_page_sums_add(const PageSumsArgs& a, cudaStream_t stream) {
  if (a.batch == 0) return nullptr;
  switch (a.type) {
    case ElementType::Float32: return launch_formats<float>(a, stream);
    case ElementType::Float16: return launch_formats<__half>(a, stream);
    case ElementType::BFloat16: return launch_formats<__nv_bfloat16>(a, stream);
  }
  return "page_sums_add: unsupported element type";
}

}  // namespace alisa
