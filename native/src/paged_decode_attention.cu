// Paged decode attention: one query token per sequence attends to its cached keys, read in place from the paged
// KV pool through the sequence's block table (no gathered copy of the context).
//
// Layouts (row-major): query/out [B, H, D]; key/value pool [S, KvH, D] with slot = block * block_size + offset;
// block_table [B, M] int64; lengths [B] int64. H = KvH * G; query head h uses KV head h / G.
//
// Work split: one thread block per (sequence b, KV head, split s), four warps. The block's G query heads are
// handled together so each K/V row is read once for its whole group. Keys are taken in chunks of 32 positions,
// one position per lane (each lane reads its key row with 16-byte loads and computes G dot products); a warp keeps
// an online softmax (running max, sum, and output accumulator, FlashAttention-style) over the chunks it takes:
// chunk c goes to warp (c mod 4) of split (c / 4 mod splits). For the V accumulation each lane owns D/32
// consecutive output dims and the chunk's probabilities are broadcast by shuffles. Warps are merged in shared
// memory; with one split the block writes the output, otherwise a second kernel merges the splits.
// Everything that varies per step (lengths, block tables) is read on the device, so the launch can be captured
// in a CUDA graph. The CPU reference is PagedDecodeAttentionReference.cs (alisa native-check compares them).
#include "paged_decode_attention.cuh"
#include "element_types.cuh"
#include <math_constants.h>

namespace alisa {
namespace {

constexpr int kWarps = 4;
constexpr int kLanes = 32;
constexpr unsigned kAll = 0xffffffffu;

__device__ inline float warp_max(float x) {
  for (int o = kLanes / 2; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(kAll, x, o));
  return x;
}
__device__ inline float warp_sum(float x) {
  for (int o = kLanes / 2; o > 0; o /= 2) x += __shfl_xor_sync(kAll, x, o);
  return x;
}

// Dot products of one key row (D elements, 16-byte loads) with the G scaled queries in shared memory.
template <typename T, int G, int D>
__device__ inline void key_scores(const T* __restrict__ key, const float* __restrict__ q, float (&s)[G]) {
  constexpr int kPerLoad = 16 / sizeof(T);
  const uint4* rows = reinterpret_cast<const uint4*>(key);
#pragma unroll
  for (int g = 0; g < G; g++) s[g] = 0.f;
#pragma unroll 4
  for (int i = 0; i < D / kPerLoad; i++) {
    uint4 raw = __ldg(rows + i);
    const T* k = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int j = 0; j < kPerLoad; j++) {
      float kj = to_float(k[j]);
#pragma unroll
      for (int g = 0; g < G; g++) s[g] += q[g * D + i * kPerLoad + j] * kj;
    }
  }
}

template <typename T, int G, int D>
__global__ void __launch_bounds__(kWarps * kLanes)
paged_decode_attention_kernel(T* __restrict__ out, float* __restrict__ workspace, const T* __restrict__ query,
                              const T* __restrict__ key_pool, const T* __restrict__ value_pool,
                              const int64_t* __restrict__ block_table, const int64_t* __restrict__ lengths,
                              int kv_heads, int max_blocks, int block_size, float scale) {
  constexpr int kDims = D / kLanes;  // output dims per lane
  const int b = blockIdx.x, kv_head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const int warp = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  const int heads = kv_heads * G;
  const int length = static_cast<int>(lengths[b]);

  extern __shared__ float shared[];
  float* q_s = shared;                        // [G][D] scaled queries
  float* acc_s = q_s + G * D;                 // [warps][G][D]
  float* stat_s = acc_s + kWarps * G * D;     // [warps][G][2]: running max, sum

  for (int i = threadIdx.x; i < G * D; i += blockDim.x)
    q_s[i] = to_float(query[(static_cast<int64_t>(b) * heads + kv_head * G) * D + i]) * scale;
  __syncthreads();

  float m[G], l[G], acc[G][kDims];
#pragma unroll
  for (int g = 0; g < G; g++) {
    m[g] = -CUDART_INF_F;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < kDims; i++) acc[g][i] = 0.f;
  }

  const int64_t* table = block_table + static_cast<int64_t>(b) * max_blocks;
  const int64_t row_stride = static_cast<int64_t>(kv_heads) * D;
  const T* keys = key_pool + kv_head * D;
  const T* values = value_pool + kv_head * D + lane * kDims;

  for (int chunk = split * kWarps + warp; chunk * kLanes < length; chunk += splits * kWarps) {
    const int position = chunk * kLanes + lane;
    const bool valid = position < length;
    // invalid lanes read slot 0 of the scratch block (always allocated) and get probability 0
    const int64_t slot = valid ? table[position / block_size] * block_size + position % block_size : 0;
    float s[G];
    key_scores<T, G, D>(keys + slot * row_stride, q_s, s);
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
#pragma unroll 4
    for (int j = 0; j < kLanes; j++) {
      const int64_t slot_j = __shfl_sync(kAll, slot, j);
      const T* v = values + slot_j * row_stride;
      float vj[kDims];
#pragma unroll
      for (int i = 0; i < kDims; i++) vj[i] = to_float(v[i]);
#pragma unroll
      for (int g = 0; g < G; g++) {
        const float pj = __shfl_sync(kAll, p[g], j);
#pragma unroll
        for (int i = 0; i < kDims; i++) acc[g][i] += pj * vj[i];
      }
    }
  }

  // merge the warps
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int i = 0; i < kDims; i++) acc_s[(warp * G + g) * D + lane * kDims + i] = acc[g][i];
    if (lane == 0) { stat_s[(warp * G + g) * 2] = m[g]; stat_s[(warp * G + g) * 2 + 1] = l[g]; }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    float m_all = -CUDART_INF_F;
    for (int w = 0; w < kWarps; w++) m_all = fmaxf(m_all, stat_s[(w * G + g) * 2]);
    float l_all = 0.f, a_all = 0.f;
    if (m_all != -CUDART_INF_F)
      for (int w = 0; w < kWarps; w++) {
        const float f = __expf(stat_s[(w * G + g) * 2] - m_all);  // 0 for a warp that saw no chunk
        l_all += f * stat_s[(w * G + g) * 2 + 1];
        a_all += f * acc_s[(w * G + g) * D + d];
      }
    const int64_t head = static_cast<int64_t>(b) * heads + kv_head * G + g;
    if (splits == 1) {
      out[head * D + d] = from_float<T>(l_all > 0.f ? a_all / l_all : 0.f);
    } else {
      // workspace: [B*H][splits][D] accumulators, then [B*H][splits][2] (max, sum)
      float* partial_acc = workspace;
      float* partial_stat = workspace + static_cast<int64_t>(gridDim.x) * heads * splits * D;
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
__global__ void merge_splits_kernel(T* __restrict__ out, const float* __restrict__ workspace, int rows, int splits, int head_dim) {
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
}

template <typename T, int G, int D>
const char* launch_typed(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  const size_t shared_bytes = sizeof(float) * (G * D + kWarps * G * D + kWarps * G * 2);
  dim3 grid(a.batch, a.kv_heads, a.splits);
  paged_decode_attention_kernel<T, G, D><<<grid, kWarps * kLanes, shared_bytes, stream>>>(
      static_cast<T*>(a.out), a.workspace, static_cast<const T*>(a.query), static_cast<const T*>(a.key_pool),
      static_cast<const T*>(a.value_pool), a.block_table, a.lengths, a.kv_heads, a.max_blocks, a.block_size, a.scale);
  if (a.splits > 1)
    merge_splits_kernel<T><<<a.batch * a.kv_heads * G, D, 0, stream>>>(static_cast<T*>(a.out), a.workspace,
                                                                     a.batch * a.kv_heads * G, a.splits, D);
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

template <typename T, int D>
const char* launch_groups(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  switch (a.groups) {
    case 1: return launch_typed<T, 1, D>(a, stream);
    case 2: return launch_typed<T, 2, D>(a, stream);
    case 3: return launch_typed<T, 3, D>(a, stream);
    case 4: return launch_typed<T, 4, D>(a, stream);
    case 5: return launch_typed<T, 5, D>(a, stream);
    case 6: return launch_typed<T, 6, D>(a, stream);
    case 7: return launch_typed<T, 7, D>(a, stream);
    case 8: return launch_typed<T, 8, D>(a, stream);
    default: return "query heads per KV head must be 1..8";
  }
}

template <typename T>
const char* launch_dims(const PagedDecodeAttentionArgs& a, cudaStream_t stream) {
  switch (a.head_dim) {
    case 64: return launch_groups<T, 64>(a, stream);
    case 128: return launch_groups<T, 128>(a, stream);
    default: return "head dim must be 64 or 128";
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
  switch (a.type) {
    case ElementType::Float32: return launch_dims<float>(a, stream);
    case ElementType::Float16: return launch_dims<__half>(a, stream);
    case ElementType::BFloat16: return launch_dims<__nv_bfloat16>(a, stream);
  }
  return "unsupported element type";
}

}  // namespace alisa
