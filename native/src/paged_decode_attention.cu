// Paged decode attention: one query token per sequence attends to cached keys read in place from the paged KV pool
// through the sequence's block table (no gathered copy). Dense attention and every sparse KV policy are the same
// kernel: a policy only says which positions are attended (sinks, a list of selected positions, a recent range).
//
// Layouts (row-major): query/out [B, H, D]; pools [S, KvH, D] with slot = block * block_size + offset, in the
// query's dtype or INT8 (codes [S, KvH, D] uint8 + per row (scale, min) fp16 [S, KvH, 2]); block_table [B, M] int64,
// entries >= gpu_blocks address the CPU tier (page-locked host memory, read over PCIe through its device mapping, so
// only the attended rows cross and no host sync is needed); lengths [B] int64. H = KvH * G; head h uses KV head h / G.
// With a hot table [B, MH] (hot_set.cuh), listed entry j of a sequence that has hot blocks is read from its hot slot j.
//
// Work split: one thread block per (sequence b, KV head, split s), four warps. The block's G query heads are handled
// together so each K/V row is read once for its whole group. Attended entries are taken in chunks of 32, one per
// lane (each lane reads its key row with 16-byte loads and computes G dot products; INT8 rows are dequantised in
// registers: q.k = scale * q.codes + min * sum(q)); a warp keeps an online softmax (FlashAttention-style) over the
// chunks it takes: chunk c goes to warp (c mod 4) of split (c / 4 mod splits). For the V accumulation each lane owns
// D/32 consecutive output dims and the chunk's probabilities are broadcast by shuffles. Warps are merged in shared
// memory; with one split the block writes the output, otherwise a second kernel merges the splits.
// Everything that varies per step is read on the device, so the launch can be captured in a CUDA graph.
// The CPU reference is PagedDecodeAttentionReference.cs (alisa native-check compares them).
#include "paged_decode_attention.cuh"
#include "element_types.cuh"
#include "kv_rows.cuh"
#include "selection.cuh"
#include "warp_softmax.cuh"
#include <math_constants.h>

namespace alisa {
namespace {

constexpr int kWarps = 4;

// Dot products of one key row with the G scaled queries in shared memory (q_sum[g]: sum of query g, for INT8).
template <typename T, KvFormat F, int G, int D>
__device__ inline void key_scores(const KvPoolView& gpu, const KvPoolView& cpu, int64_t row, const float* __restrict__ q,
                                  const float* __restrict__ q_sum, float (&s)[G]) {
  const KvPoolView& pool = row >= 0 ? gpu : cpu;
  row = row >= 0 ? row : -1 - row;
#pragma unroll
  for (int g = 0; g < G; g++) s[g] = 0.f;
  if constexpr (F == KvFormat::Native) {
    constexpr int kPerLoad = 16 / sizeof(T);
    const uint4* rows = reinterpret_cast<const uint4*>(static_cast<const T*>(pool.keys) + row * D);
#pragma unroll 8
    for (int i = 0; i < D / kPerLoad; i++) {
      uint4 raw = rows[i];
      const T* k = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < kPerLoad; j++) {
        const float kj = to_float(k[j]);
#pragma unroll
        for (int g = 0; g < G; g++) s[g] += q[g * D + i * kPerLoad + j] * kj;
      }
    }
  } else {
    const uint4* rows = reinterpret_cast<const uint4*>(static_cast<const uint8_t*>(pool.keys) + row * D);
#pragma unroll  // all of the row's loads in flight at once: the step is latency-bound at decode batch sizes
    for (int i = 0; i < D / 16; i++) {
      uint4 raw = rows[i];
      const uint8_t* k = reinterpret_cast<const uint8_t*>(&raw);
#pragma unroll
      for (int j = 0; j < 16; j++) {
        const float kj = static_cast<float>(k[j]);
#pragma unroll
        for (int g = 0; g < G; g++) s[g] += q[g * D + i * 16 + j] * kj;
      }
    }
    const __half2 p = static_cast<const __half2*>(pool.key_params)[row];
    const float scale = __low2float(p), minimum = __high2float(p);
#pragma unroll
    for (int g = 0; g < G; g++) s[g] = scale * s[g] + minimum * q_sum[g];
  }
}

// This lane's D/32 dims of one value row.
template <typename T, KvFormat F, int D>
__device__ inline void value_dims(const KvPoolView& gpu, const KvPoolView& cpu, int64_t row, int lane, float (&v)[D / kLanes]) {
  constexpr int kDims = D / kLanes;
  const KvPoolView& pool = row >= 0 ? gpu : cpu;
  row = row >= 0 ? row : -1 - row;
  if constexpr (F == KvFormat::Native) {
    const T* values = static_cast<const T*>(pool.values) + row * D + lane * kDims;
#pragma unroll
    for (int i = 0; i < kDims; i++) v[i] = to_float(values[i]);
  } else {
    const uint8_t* codes = static_cast<const uint8_t*>(pool.values) + row * D + lane * kDims;
    const __half2 p = static_cast<const __half2*>(pool.value_params)[row];
    const float scale = __low2float(p), minimum = __high2float(p);
#pragma unroll
    for (int i = 0; i < kDims; i++) v[i] = static_cast<float>(codes[i]) * scale + minimum;
  }
}

template <typename T, KvFormat F, int G, int D>
__global__ void __launch_bounds__(kWarps * kLanes) paged_decode_attention_kernel(PagedDecodeAttentionArgs a) {
  constexpr int kDims = D / kLanes;  // output dims per lane
  const int b = blockIdx.x, kv_head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const int warp = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const int heads = a.kv_heads * G;
  const Selection sel = selection_of(a.segments, a.positions, a.selection_groups, a.max_listed, b, kv_head,
                                     static_cast<int>(a.lengths[b]));

  extern __shared__ float shared[];
  float* q_s = shared;                        // [G][D] scaled queries
  float* q_sum = q_s + G * D;                 // [G]
  float* acc_s = q_sum + G;                   // [warps][G][D]
  float* stat_s = acc_s + kWarps * G * D;     // [warps][G][2]: running max, sum

  const T* query = static_cast<const T*>(a.query);
  for (int i = threadIdx.x; i < G * D; i += blockDim.x)
    q_s[i] = to_float(query[static_cast<int64_t>(b) * a.query_stride + kv_head * G * D + i]) * a.scale;
  __syncthreads();
  if (F == KvFormat::Int8 && warp == 0)
    for (int g = 0; g < G; g++) {
      float sum = 0.f;
      for (int i = lane; i < D; i += kLanes) sum += q_s[g * D + i];
      sum = warp_sum(sum);
      if (lane == 0) q_sum[g] = sum;
    }
  __syncthreads();

  float m[G], l[G], acc[G][kDims];
  clear_softmax<G, kDims>(m, l, acc);

  const int64_t* table = a.block_table + static_cast<int64_t>(b) * a.max_blocks;
  // a sequence without hot blocks (its policy lists nothing) reads its listed entries through the block table
  const int64_t* hot = a.hot_table == nullptr || a.hot_table[static_cast<int64_t>(b) * a.max_hot_blocks] < 0
                           ? nullptr : a.hot_table + static_cast<int64_t>(b) * a.max_hot_blocks;
  for (int chunk = split * kWarps + warp; chunk * kLanes < sel.total; chunk += splits * kWarps) {
    const int entry = chunk * kLanes + lane;
    const bool valid = entry < sel.total;
    // invalid lanes read row 0 (the scratch block) and get probability 0; listed entries come from the hot set if any
    const bool from_hot = hot != nullptr && entry >= sel.sinks && entry < sel.sinks + sel.listed;
    const int64_t row = !valid ? 0
                        : from_hot ? hot_row_of(hot, entry - sel.sinks, a.block_size, a.kv_heads, kv_head)
                                   : row_of(table, sel.position(entry), a.block_size, a.gpu_blocks, a.kv_heads, kv_head);
    float s[G];
    key_scores<T, F, G, D>(a.gpu, a.cpu, row, q_s, q_sum, s);
    if (a.logits != nullptr && valid)
#pragma unroll
      for (int g = 0; g < G; g++) a.logits[(static_cast<int64_t>(b) * heads + kv_head * G + g) * a.logit_stride + entry] = s[g];
    float p[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
      const float score = valid ? s[g] : -CUDART_INF_F;
      const float m_new = fmaxf(m[g], warp_max(score));  // finite: lane 0 of a visited chunk is valid
      const float correction = __expf(m[g] - m_new);
      p[g] = valid ? __expf(score - m_new) : 0.f;
      l[g] = l[g] * correction + warp_sum(p[g]);
      m[g] = m_new;
#pragma unroll
      for (int i = 0; i < kDims; i++) acc[g][i] *= correction;
    }
#pragma unroll 8  // eight value rows in flight per lane
    for (int j = 0; j < kLanes; j++) {
      float vj[kDims];
      value_dims<T, F, D>(a.gpu, a.cpu, __shfl_sync(kAllLanes, row, j), lane, vj);
#pragma unroll
      for (int g = 0; g < G; g++) {
        const float pj = __shfl_sync(kAllLanes, p[g], j);
#pragma unroll
        for (int i = 0; i < kDims; i++) acc[g][i] += pj * vj[i];
      }
    }
  }

  // merge the warps
  store_softmax<G, kDims>(m, l, acc, acc_s, stat_s, warp, lane);
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    const MergedSoftmax all = merge_warps<G, D>(acc_s, stat_s, kWarps, g, d);
    const float m_all = all.m, l_all = all.l, a_all = all.a;
    const int64_t head = static_cast<int64_t>(b) * heads + kv_head * G + g;
    if (splits == 1) {
      static_cast<T*>(a.out)[head * D + d] = from_float<T>(l_all > 0.f ? a_all / l_all : 0.f);
      if (a.lse != nullptr && d == 0) a.lse[head] = l_all > 0.f ? m_all + logf(l_all) : -CUDART_INF_F;
    } else {
      // workspace: [B*H][splits][D] accumulators, then [B*H][splits][2] (max, sum)
      float* partial_acc = a.workspace;
      float* partial_stat = a.workspace + static_cast<int64_t>(gridDim.x) * heads * splits * D;
      partial_acc[(head * splits + split) * D + d] = a_all;
      if (d == 0) {
        partial_stat[(head * splits + split) * 2] = m_all;
        partial_stat[(head * splits + split) * 2 + 1] = l_all;
      }
    }
  }
}

// Merges the splits of every (sequence, head): one block per head, one thread per dim.
template <typename T>
__global__ void merge_splits_kernel(T* __restrict__ out, float* __restrict__ lse, const float* __restrict__ workspace,
                                    int rows, int splits, int head_dim) {
  const int64_t head = blockIdx.x;
  const int d = threadIdx.x;
  const float* partial_acc = workspace;
  const float* partial_stat = workspace + static_cast<int64_t>(rows) * splits * head_dim;
  float m_all = -CUDART_INF_F;
  for (int s = 0; s < splits; s++) m_all = fmaxf(m_all, partial_stat[(head * splits + s) * 2]);
  float l_all = 0.f, a_all = 0.f;
  if (m_all != -CUDART_INF_F)
    for (int s = 0; s < splits; s++) {
      const float f = __expf(partial_stat[(head * splits + s) * 2] - m_all);
      l_all += f * partial_stat[(head * splits + s) * 2 + 1];
      a_all += f * partial_acc[(head * splits + s) * head_dim + d];
    }
  out[head * head_dim + d] = from_float<T>(l_all > 0.f ? a_all / l_all : 0.f);
  if (lse != nullptr && d == 0) lse[head] = l_all > 0.f ? m_all + logf(l_all) : -CUDART_INF_F;
}

template <typename T, KvFormat F, int G, int D>
const char* launch_typed(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  const size_t shared_bytes = sizeof(float) * (G * D + G + kWarps * G * D + kWarps * G * 2);
  dim3 grid(a.batch, a.kv_heads, a.splits);
  paged_decode_attention_kernel<T, F, G, D><<<grid, kWarps * kLanes, shared_bytes, stream>>>(a);
  if (a.splits > 1)
    merge_splits_kernel<T><<<a.batch * a.kv_heads * G, D, 0, stream>>>(static_cast<T*>(a.out), a.lse, a.workspace,
                                                                     a.batch * a.kv_heads * G, a.splits, D);
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

template <typename T, KvFormat F, int D>
const char* launch_groups(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  switch (a.groups) {
    case 1: return launch_typed<T, F, 1, D>(a, stream);
    case 2: return launch_typed<T, F, 2, D>(a, stream);
    case 3: return launch_typed<T, F, 3, D>(a, stream);
    case 4: return launch_typed<T, F, 4, D>(a, stream);
    case 5: return launch_typed<T, F, 5, D>(a, stream);
    case 6: return launch_typed<T, F, 6, D>(a, stream);
    case 7: return launch_typed<T, F, 7, D>(a, stream);
    case 8: return launch_typed<T, F, 8, D>(a, stream);
    default: return "query heads per KV head must be 1..8";
  }
}

template <typename T, KvFormat F>
const char* launch_dims(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 64: return launch_groups<T, F, 64>(a, stream);
    case 128: return launch_groups<T, F, 128>(a, stream);
    default: return "head dim must be 64 or 128";
  }
}

template <typename T>
const char* launch_formats(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  return a.format == KvFormat::Native ? launch_dims<T, KvFormat::Native>(a, stream) : launch_dims<T, KvFormat::Int8>(a, stream);
}

// Weight of each attended entry summed over the KV head's query group: one block per (sequence, KV head).
__global__ void attention_weights_kernel(AttentionWeightsArgs a) {
  const int b = blockIdx.x, kv_head = blockIdx.y, heads = a.kv_heads * a.groups;
  const Selection sel = selection_of(a.segments, a.listed, a.selection_groups, a.max_listed, b, kv_head,
                                     static_cast<int>(a.lengths[b]));
  const int64_t out_row = (static_cast<int64_t>(b) * a.kv_heads + kv_head) * a.logit_stride;
  for (int i = threadIdx.x; i < a.logit_stride; i += blockDim.x) {
    float weight = 0.f;
    int64_t position = 0;
    if (i < sel.total) {
      position = sel.position(i);
      for (int g = 0; g < a.groups; g++) {
        const int64_t head = static_cast<int64_t>(b) * heads + kv_head * a.groups + g;
        weight += __expf(a.logits[head * a.logit_stride + i] - a.lse[head]);
      }
    }
    a.weights[out_row + i] = weight;
    a.positions[out_row + i] = position;
  }
}

}  // namespace

int64_t paged_decode_attention_workspace(int batch, int heads, int head_dim, int splits) {
  return splits > 1 ? static_cast<int64_t>(batch) * heads * splits * (head_dim + 2) : 0;
}

int paged_decode_attention_splits(int batch, int kv_heads, int multiprocessors) {
  const int blocks = batch * kv_heads;
  const int wanted = (2 * multiprocessors + blocks - 1) / blocks;
  return wanted < 1 ? 1 : wanted > 16 ? 16 : wanted;
}

const char* launch_paged_decode_attention(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  if (a.splits < 1) return "splits must be >= 1";
  if (a.splits > 1 && a.workspace == nullptr) return "splits > 1 needs a workspace";
  if (a.segments != nullptr && a.selection_groups != 1 && a.selection_groups != a.kv_heads)
    return "selection groups must be 1 or the KV heads";
  if (a.logits != nullptr && a.lse == nullptr) return "logits need the lse output too";
  switch (a.type) {
    case ElementType::Float32: return launch_formats<float>(a, stream);
    case ElementType::Float16: return launch_formats<__half>(a, stream);
    case ElementType::BFloat16: return launch_formats<__nv_bfloat16>(a, stream);
  }
  return "unsupported element type";
}

const char* launch_attention_weights(const AttentionWeightsArgs& a, cudaStream_t stream) {
  attention_weights_kernel<<<dim3(a.batch, a.kv_heads), 128, 0, stream>>>(a);
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
