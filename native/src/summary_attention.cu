// summary_attention (layouts and semantics in page_summaries.cuh): the pages' summaries of the tokens a selection
// left out, attended after the paged decode attention kernel and merged into its output and log-sum-exp. The C#
// reference is SummaryEntries with SparseAttention (alisa native-check compares the engine with it).
#include "kv_rows.cuh"
#include "page_summaries.cuh"
#include "selection.cuh"
#include "warp_softmax.cuh"

#include <math_constants.h>

namespace alisa {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsInFlight = 2;  // selected rows loaded at once per page (more costs occupancy: registers)

template <typename T, KvFormat F, int G, int D>
__global__ void __launch_bounds__(kWarps * kLanes) summary_attention_kernel(SummaryAttentionArgs a, int words) {
  constexpr int kDims = D / kLanes;
  const int b = blockIdx.x, kv_head = blockIdx.y, warp = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  if (a.asks[b] == 0) return;
  const int length = static_cast<int>(a.lengths[b]), heads = a.kv_heads * G;
  const Selection sel = selection_of(a.segments, a.positions, a.selection_groups, a.max_listed, b, kv_head, length);

  extern __shared__ float shared[];
  float* q_s = shared;                        // [G][D] scaled queries
  float* acc_s = q_s + G * D;                 // [warps][G][D]
  float* stat_s = acc_s + kWarps * G * D;     // [warps][G][2]: running max, sum
  float* lse_s = stat_s + kWarps * G * 2;     // [G] the kernel's log-sum-exp
  uint32_t* selected = reinterpret_cast<uint32_t*>(lse_s + G);  // [words] positions the selection attends

  const int64_t head0 = static_cast<int64_t>(b) * heads + kv_head * G;
  for (int i = threadIdx.x; i < G * D; i += blockDim.x) q_s[i] = to_float(static_cast<const T*>(a.query)[head0 * D + i]) * a.scale;
  for (int i = threadIdx.x; i < words; i += blockDim.x) selected[i] = 0u;
  if (threadIdx.x < G) lse_s[threadIdx.x] = a.lse[head0 + threadIdx.x];
  __syncthreads();
  for (int i = threadIdx.x; i < sel.total; i += blockDim.x) {
    const int p = sel.position(i);
    if (p >= 0 && p < length) atomicOr(&selected[p / 32], 1u << (p % 32));
  }
  __syncthreads();

  float m[G], l[G], acc[G][kDims];
  clear_softmax<G, kDims>(m, l, acc);
  const int64_t* table = a.block_table + static_cast<int64_t>(b) * a.max_blocks;
  const int pages = (length + a.block_size - 1) / a.block_size;
  // A warp takes pages warp, warp + kWarps, ... 32 at a time: each lane first reads one page's selection mask and
  // block-table entry, so that a page's own loads (its sums and selected rows) are one round trip, not three.
  for (int first = warp; first < pages; first += kWarps * kLanes) {
    const int mine = first + lane * kWarps;
    uint32_t my_mask = 0;
    int my_count = 0;
    long long my_block = 0;
    if (mine < pages) {
      const int start = mine * a.block_size, filled = min(a.block_size, length - start);
      my_mask = (selected[start / 32] >> (start % 32)) & (filled == 32 ? ~0u : (1u << filled) - 1u);
      my_count = filled - __popc(my_mask);
      if (my_count > 0) my_block = table[mine];
    }
    const int in_chunk = min(kLanes, (pages - first + kWarps - 1) / kWarps);
    for (int j = 0; j < in_chunk; j++) {  // warp-uniform: every lane takes the same branches
      const int count = __shfl_sync(~0u, my_count, j);
      if (count <= 0) continue;
      uint32_t mask = __shfl_sync(~0u, my_mask, j);
      const int64_t block = __shfl_sync(~0u, my_block, j);
      const int64_t sums = (block * a.kv_heads + kv_head) * D + lane * kDims;
      float sum_k[kDims], sum_v[kDims];
#pragma unroll
      for (int i = 0; i < kDims; i++) sum_k[i] = a.key_sums[sums + i], sum_v[i] = a.value_sums[sums + i];
      // the selected rows of the page, summed first in position order (as the reference does), kRowsInFlight loaded at once
      float taken_k[kDims] = {}, taken_v[kDims] = {};
      while (mask) {
        int t[kRowsInFlight];
        float xk[kRowsInFlight][kDims], xv[kRowsInFlight][kDims];
#pragma unroll
        for (int r = 0; r < kRowsInFlight; r++) {
          t[r] = mask ? __ffs(mask) - 1 : -1;
          mask &= mask - 1;
          if (t[r] < 0) continue;
          const int64_t row = (block * a.block_size + t[r]) * a.kv_heads + kv_head;
          stored_dims<T, F, kDims>(a.pool, false, row, D, lane * kDims, xk[r]);
          stored_dims<T, F, kDims>(a.pool, true, row, D, lane * kDims, xv[r]);
        }
#pragma unroll
        for (int r = 0; r < kRowsInFlight; r++)
          if (t[r] >= 0) {
#pragma unroll
            for (int i = 0; i < kDims; i++) taken_k[i] += xk[r][i], taken_v[i] += xv[r][i];
          }
      }
      float rest_k[kDims], mean_v[kDims];
#pragma unroll
      for (int i = 0; i < kDims; i++) {
        rest_k[i] = sum_k[i] - taken_k[i];
        mean_v[i] = (sum_v[i] - taken_v[i]) / static_cast<float>(count);
      }
#pragma unroll
      for (int g = 0; g < G; g++) {
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < kDims; i++) dot += q_s[g * D + lane * kDims + i] * rest_k[i];
        const float logit = warp_sum(dot) / static_cast<float>(count) + logf(static_cast<float>(count));
        const float m_new = fmaxf(m[g], logit), correction = __expf(m[g] - m_new), p = __expf(logit - m_new);
        l[g] = l[g] * correction + p;
        m[g] = m_new;
#pragma unroll
        for (int i = 0; i < kDims; i++) acc[g][i] = acc[g][i] * correction + p * mean_v[i];
      }
    }
  }

  // merge the warps, then the summaries' softmax with the kernel's
  store_softmax<G, kDims>(m, l, acc, acc_s, stat_s, warp, lane);
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    const MergedSoftmax all = merge_warps<G, D>(acc_s, stat_s, kWarps, g, d);
    if (all.m == -CUDART_INF_F) continue;  // no page had tokens left out: the kernel's output stands
    const float m_all = all.m, l_all = all.l, a_all = all.a;
    const float lse = lse_s[g], top = fmaxf(lse, m_all);
    const float w_kernel = lse == -CUDART_INF_F ? 0.f : __expf(lse - top), w_pages = __expf(m_all - top);
    const float denominator = w_kernel + l_all * w_pages;
    T* out = static_cast<T*>(a.out) + (head0 + g) * D + d;
    *out = from_float<T>((to_float(*out) * w_kernel + a_all * w_pages) / denominator);
    if (d == 0) a.lse[head0 + g] = top + logf(denominator);
  }
}

template <typename T, KvFormat F, int D>
const char* launch_groups(const SummaryAttentionArgs& a, int words, cudaStream_t stream) {
  const dim3 grid(a.batch, a.kv_heads);
  auto launch = [&](auto kernel, int g) {
    const size_t shared = sizeof(float) * (g * D + kWarps * g * D + kWarps * g * 2 + g) + sizeof(uint32_t) * words;
    if (shared > 48 * 1024 && cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)) != cudaSuccess)
      return "summary_attention: this context length needs more shared memory than the device has";
    kernel<<<grid, kWarps * kLanes, shared, stream>>>(a, words);
    return static_cast<const char*>(nullptr);
  };
  switch (a.groups) {
    case 1: return launch(summary_attention_kernel<T, F, 1, D>, 1);
    case 2: return launch(summary_attention_kernel<T, F, 2, D>, 2);
    case 3: return launch(summary_attention_kernel<T, F, 3, D>, 3);
    case 4: return launch(summary_attention_kernel<T, F, 4, D>, 4);
    case 5: return launch(summary_attention_kernel<T, F, 5, D>, 5);
    case 6: return launch(summary_attention_kernel<T, F, 6, D>, 6);
    case 7: return launch(summary_attention_kernel<T, F, 7, D>, 7);
    case 8: return launch(summary_attention_kernel<T, F, 8, D>, 8);
    default: return "summary_attention: query heads per KV head must be 1..8";
  }
}

template <typename T, KvFormat F>
const char* launch_dims(const SummaryAttentionArgs& a, int words, cudaStream_t stream) {
  switch (a.head_dim) {
    case 64: return launch_groups<T, F, 64>(a, words, stream);
    case 128: return launch_groups<T, F, 128>(a, words, stream);
    default: return "summary_attention: head dim must be 64 or 128";
  }
}

template <typename T>
const char* launch_formats(const SummaryAttentionArgs& a, int words, cudaStream_t stream) {
  return a.format == KvFormat::Native ? launch_dims<T, KvFormat::Native>(a, words, stream) : launch_dims<T, KvFormat::Int8>(a, words, stream);
}

}  // namespace

const char* launch_summary_attention(const SummaryAttentionArgs& a, cudaStream_t stream) {
  if (a.batch == 0) return nullptr;
  if (a.block_size > 32 || 32 % a.block_size != 0) return "summary_attention: the block size must divide 32";
  const int words = (a.max_blocks * a.block_size + 31) / 32;
  const char* error = nullptr;
  switch (a.type) {
    case ElementType::Float32: error = launch_formats<float>(a, words, stream); break;
    case ElementType::Float16: error = launch_formats<__half>(a, words, stream); break;
    case ElementType::BFloat16: error = launch_formats<__nv_bfloat16>(a, words, stream); break;
  }
  if (error) return error;
  const cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}

}  // namespace alisa
