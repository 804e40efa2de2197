// hot_set_update (layouts and semantics in hot_set.cuh). Per (sequence, selection group) block: two bitmaps over
// positions in shared memory (listed now; already held by a slot that stays), two stable compactions (positions to
// copy, slots to take), then the copies in 16-byte pieces spread over the block's threads.
#include "hot_set.cuh"
#include "kv_rows.cuh"

namespace alisa {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ inline bool has(const uint32_t* bits, int p) { return (bits[p / 32] >> (p % 32)) & 1u; }

// Writes the indices i < n where pred(i) holds to out, in ascending order; returns how many (same in every thread).
template <typename Pred>
__device__ int compact(int n, Pred pred, int32_t* out, int* warp_counts) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int base = 0;
  for (int start = 0; start < n; start += kThreads) {
    const int i = start + threadIdx.x;
    const bool p = i < n && pred(i);
    const unsigned ballot = __ballot_sync(0xffffffffu, p);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int offset = base, chunk = 0;
    for (int w = 0; w < kWarps; w++) {
      if (w < warp) offset += warp_counts[w];
      chunk += warp_counts[w];
    }
    if (p) out[offset + __popc(ballot & ((1u << lane) - 1u))] = i;
    __syncthreads();  // warp_counts is reused by the next round
    base += chunk;
  }
  return base;
}

__global__ void __launch_bounds__(kThreads) hot_set_update_kernel(HotSetArgs a, int words, int max_capacity) {
  const int b = blockIdx.x, g = blockIdx.y, groups = gridDim.y;
  const int length = static_cast<int>(a.lengths[b]);
  const int64_t group = static_cast<int64_t>(b) * groups + g;
  const int32_t* seg = a.segments + group * 3;
  const int32_t* listed = a.listed + group * a.max_listed;
  const int64_t* table = a.block_table + static_cast<int64_t>(b) * a.max_blocks;
  const int64_t* hot = a.hot_table + static_cast<int64_t>(b) * a.max_hot_blocks;
  // the hot blocks are a prefix of the row, counted in parallel (a scan would be a chain of dependent loads)
  int hot_blocks = 0;
  for (int start = 0; start < a.max_hot_blocks; start += blockDim.x) {
    const int i = start + threadIdx.x;
    hot_blocks += __syncthreads_count(i < a.max_hot_blocks && hot[i] >= 0);
  }
  const int capacity = hot_blocks * a.block_size;
  if (capacity == 0) {  // a sequence without hot blocks (its policy lists nothing) reads through its block table
    int32_t* out = a.out_listed + group * a.max_out;
    for (int i = threadIdx.x; i < min(seg[1], a.max_out); i += blockDim.x) out[i] = listed[i];
    if (threadIdx.x < 3) a.out_segments[group * 3 + threadIdx.x] = seg[threadIdx.x];
    return;
  }
  const int sinks = seg[0], n = min(seg[0] + seg[1], capacity);
  const int first_head = groups > 1 ? g : 0, heads = groups > 1 ? 1 : a.kv_heads;

  auto new_position = [&](int i) { return i < sinks ? i : listed[i - sinks]; };
  auto valid = [&](int p) { return p >= 0 && p < length; };
  auto held = [&](int j) { return a.hot_positions[hot_row_of(hot, j, a.block_size, a.kv_heads, first_head)]; };

  extern __shared__ uint32_t shared[];
  uint32_t* selected = shared;                                      // [words] positions listed now
  uint32_t* kept = selected + words;                                // [words] positions whose slot keeps them
  int32_t* misses = reinterpret_cast<int32_t*>(kept + words);       // [max_capacity] list indices to copy
  int32_t* frees = misses + max_capacity;                           // [max_capacity] slots they take
  __shared__ int warp_counts[kWarps];
  __shared__ int copied[2];                                         // from GPU blocks, from the CPU tier

  for (int i = threadIdx.x; i < 2 * words; i += blockDim.x) shared[i] = 0u;
  if (threadIdx.x < 2) copied[threadIdx.x] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int p = new_position(i);
    if (valid(p)) atomicOr(&selected[p / 32], 1u << (p % 32));
  }
  __syncthreads();
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const int p = held(j);
    if (valid(p) && has(selected, p)) atomicOr(&kept[p / 32], 1u << (p % 32));
  }
  __syncthreads();
  const int missing = compact(n, [&](int i) { const int p = new_position(i); return !(valid(p) && has(kept, p)); }, misses, warp_counts);
  const int free_slots = compact(n, [&](int j) { const int p = held(j); return !(valid(p) && has(selected, p)); }, frees, warp_counts);
  const int pairs = min(missing, free_slots);  // equal unless a slot list was corrupt

  const KvPoolView& gpu = a.gpu;
  const int pieces = a.row_bytes / 16;
  const int64_t work = static_cast<int64_t>(pairs) * heads * 2 * pieces;
  for (int64_t w = threadIdx.x; w < work; w += blockDim.x) {
    const int piece = static_cast<int>(w % pieces);
    const int values = static_cast<int>(w / pieces % 2);
    const int head = first_head + static_cast<int>(w / pieces / 2 % heads);
    const int k = static_cast<int>(w / pieces / 2 / heads);
    const int p = new_position(misses[k]);
    if (!valid(p)) continue;
    const int64_t source = row_of(table, p, a.block_size, a.gpu_blocks, a.kv_heads, head);
    const KvPoolView& from = source >= 0 ? gpu : a.cpu;
    const int64_t from_row = source >= 0 ? source : -1 - source;
    const int64_t to_row = hot_row_of(hot, frees[k], a.block_size, a.kv_heads, head);
    const void* from_rows = values ? from.values : from.keys;
    void* to_rows = const_cast<void*>(values ? gpu.values : gpu.keys);  // the GPU pool is device memory we own
    reinterpret_cast<uint4*>(static_cast<char*>(to_rows) + to_row * a.row_bytes)[piece] =
        reinterpret_cast<const uint4*>(static_cast<const char*>(from_rows) + from_row * a.row_bytes)[piece];
    if (piece == 0 && a.format == KvFormat::Int8) {
      const void* from_params = values ? from.value_params : from.key_params;
      void* to_params = const_cast<void*>(values ? gpu.value_params : gpu.key_params);
      static_cast<uint32_t*>(to_params)[to_row] = static_cast<const uint32_t*>(from_params)[from_row];
    }
    if (piece == 0 && values == 0 && head == first_head) atomicAdd(&copied[source >= 0 ? 0 : 1], 1);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < pairs; k += blockDim.x)
    for (int h = first_head; h < first_head + heads; h++)
      a.hot_positions[hot_row_of(hot, frees[k], a.block_size, a.kv_heads, h)] = new_position(misses[k]);
  for (int j = n + threadIdx.x; j < capacity; j += blockDim.x)  // no longer listed: emptied, so never held twice
    for (int h = first_head; h < first_head + heads; h++) a.hot_positions[hot_row_of(hot, j, a.block_size, a.kv_heads, h)] = -1;
  __syncthreads();
  int32_t* out = a.out_listed + group * a.max_out;
  for (int j = threadIdx.x; j < n; j += blockDim.x) out[j] = held(j);
  if (threadIdx.x == 0) {
    int32_t* out_seg = a.out_segments + group * 3;
    out_seg[0] = 0;
    out_seg[1] = n;
    out_seg[2] = seg[2];
    auto add = [](int64_t* counter, int64_t value) {
      atomicAdd(reinterpret_cast<unsigned long long*>(counter), static_cast<unsigned long long>(value));
    };
    add(&a.counters[0], n);
    add(&a.counters[1], copied[0]);
    add(&a.counters[2], copied[1]);
    add(&a.counters[3], static_cast<int64_t>(copied[1]) * heads * 2 * (a.row_bytes + (a.format == KvFormat::Int8 ? 4 : 0)));
  }
}

}  // namespace

const char* launch_hot_set_update(const HotSetArgs& a, cudaStream_t stream) {
  if (a.row_bytes % 16 != 0) return "hot set rows must be a multiple of 16 bytes";
  if (a.selection_groups != 1 && a.selection_groups != a.kv_heads) return "selection groups must be 1 or the KV heads";
  if (a.max_out < a.max_hot_blocks * a.block_size) return "out_listed must hold the hot capacity (hot blocks * block size)";
  const int words = (a.max_blocks * a.block_size + 31) / 32;
  const int max_capacity = a.max_hot_blocks * a.block_size;
  const size_t shared_bytes = sizeof(uint32_t) * 2 * words + sizeof(int32_t) * 2 * max_capacity;
  if (shared_bytes > 48 * 1024) {
    cudaError_t status = cudaFuncSetAttribute(hot_set_update_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(shared_bytes));
    if (status != cudaSuccess) return "the hot set of this context length needs more shared memory than the device has";
  }
  hot_set_update_kernel<<<dim3(a.batch, a.selection_groups), kThreads, shared_bytes, stream>>>(a, words, max_capacity);
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
