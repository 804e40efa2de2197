// alisa_native: the engine's native GPU library (plain C ABI, called from C# by P/Invoke).
//
// Tensor arguments are TorchSharp tensor handles (`Tensor.Handle`), which are `at::Tensor*` of the libtorch the
// process has loaded; the library is built against that same libtorch (native/build.sh), so it shares its caching
// allocator, current CUDA stream and dispatcher. Every function returns 0 on success; otherwise
// alisa_last_error() describes what was wrong (per thread).
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ALISA_API __attribute__((visibility("default")))

// Version of this ABI: the C# side refuses a library whose version differs.
ALISA_API int alisa_abi_version(void);
ALISA_API const char* alisa_last_error(void);

// Switches cuDNN's scaled-dot-product attention off for the process: with a mask it builds a new execution plan
// per key length (tens of ms each, i.e. once per decode step). SDPA then uses the flash / efficient kernels.
ALISA_API int alisa_disable_cudnn_sdpa(void);

// CUDA graphs (at::cuda::CUDAGraph). Capture runs on a side stream; every tensor the captured work touches must stay
// alive at the same address until the graph is destroyed. Graphs passed as `share_pool_with` reuse one memory pool
// (they must never be replayed concurrently).
ALISA_API int alisa_graph_create(void** graph);
ALISA_API int alisa_graph_capture_begin(void* graph, void* share_pool_with);
ALISA_API int alisa_graph_capture_end(void* graph);
ALISA_API int alisa_graph_replay(void* graph);
ALISA_API void alisa_graph_destroy(void* graph);

// CUDA events on the current stream, to time device work apart from host work, and to wait for a part of the
// stream's work (alisa_event_synchronize blocks the host until the work before the event is done).
ALISA_API int alisa_event_create(void** event);
ALISA_API int alisa_event_record(void* event);
// Waits for `end`, then gives the milliseconds between the two recorded events.
ALISA_API int alisa_event_elapsed_ms(void* start, void* end, float* milliseconds);
ALISA_API int alisa_event_synchronize(void* event);
ALISA_API void alisa_event_destroy(void* event);
// Work on a side stream: after alisa_side_stream_begin, the calling thread's current stream is a side stream that
// starts after all work issued so far; alisa_side_stream_end records `done` on it and restores the previous stream.
// alisa_stream_wait makes the current stream wait for an event (no host sync).
ALISA_API int alisa_side_stream_begin(void** side);
ALISA_API int alisa_side_stream_end(void* side, void* done);
ALISA_API int alisa_stream_wait(void* event);

// Decode attention over the paged KV pool (one new query token per sequence), reading K/V in place by block table.
// Dense attention and every sparse KV policy run through it; a policy only chooses the attended positions.
//   out          [B, H, D]        query dtype (written)
//   query        [B, H, D]        (any tensor of B*H*D elements in that order; copied if not contiguous)
//   key_pool     [S, KvH, D]      the query's dtype, or uint8 INT8 codes; slot = block * block_size + offset
//   value_pool   [S, KvH, D]
//   key_params   [S, KvH, 2] fp16 INT8 only (else null): per row (scale, min), value = code * scale + min
//   value_params [S, KvH, 2] fp16
//   cpu_*        the same for the CPU tier (page-locked host tensors, read through their device mapping), or null
//   gpu_blocks   block-table entries >= gpu_blocks address the CPU tier's block (entry - gpu_blocks)
//   block_table  [B, M] int64     blocks of each sequence's positions 0, bs, 2bs, ...
//   lengths      [B] int64        cached positions (the new one included; >= 1)
//   segments     [B, SG, 3] int32 or null (= every position): per selection group (SG = 1 or KvH) sinks, listed,
//                recent_start; the attended positions are [0, sinks), positions[b, sg, :listed], [recent_start, length)
//   positions    [B, SG, max] int32
//   hot_table    [B, MH] int64 or null: with a hot set (alisa_hot_set_update), listed entry j is read from hot slot j
//                (GPU block hot_table[b, j / block_size], offset j % block_size) instead of through the block table
//   logits       [B, H, n] fp32 or null: each attended entry's scaled logit in that order; lse [B, H] fp32 (with logits, or alone)
// H = KvH * G (GQA: query head h reads KV head h / G). D in {64, 128}, G in 1..8. Softmax scale `scale`. Everything that
// varies per step is read on the device (graph-capturable). Reference: PagedDecodeAttentionReference (C#).
ALISA_API int alisa_paged_decode_attention(void* out, void* query, void* key_pool, void* value_pool, void* key_params,
                                           void* value_params, void* cpu_key_pool, void* cpu_value_pool,
                                           void* cpu_key_params, void* cpu_value_params, int64_t gpu_blocks,
                                           void* block_table, void* lengths, void* segments, void* positions,
                                           void* hot_table, void* logits, void* lse, int block_size, float scale);

// The GPU hot set of a tiered pool (hot_set.cuh has the layouts and the slot assignment): before a layer's attention,
// keeps each sequence's rows listed again in their hot slots, copies the newly listed ones there (from the CPU tier
// or GPU blocks) and writes the selection the attention kernel reads with hot_table: out_segments [B, SG, 3] int32
// (0, n, recent start) and out_listed [B, SG, >= MH * block_size] int32 in hot-slot order. hot_positions [S, KvH]
// int32 (this layer's) is which position each pool row holds as a hot row (-1: none). counters [4] int64 accumulate
// entries, rows copied from GPU blocks, rows copied from the CPU tier, bytes read from the CPU tier.
ALISA_API int alisa_hot_set_update(void* out_segments, void* out_listed, void* counters, void* hot_positions,
                                   void* hot_table, void* key_pool, void* value_pool, void* key_params, void* value_params,
                                   void* cpu_key_pool, void* cpu_value_pool, void* cpu_key_params, void* cpu_value_params,
                                   int64_t gpu_blocks, void* block_table, void* lengths, void* segments, void* listed,
                                   int block_size);

// The attention weight of each attended entry summed over its KV head's query group, from the logits and lse of
// alisa_paged_decode_attention (same lengths/segments/positions): weights [B, KvH, n] fp32 and the entries' positions
// [B, KvH, n] int64 (past a row's entries: weight 0, position 0).
ALISA_API int alisa_attention_weights(void* weights, void* positions_out, void* logits, void* lse, void* lengths,
                                      void* segments, void* positions);

// Fused layer kernels (see each .cu file for the math): replace the TorchSharp op sequences named beside them.
//   rms_norm      out [rows, hidden] = RMSNorm(x [rows, hidden]) * weight [hidden]          (8 ops -> 1); with
//                 delta [rows, hidden] the residual add first: sum = x + delta, out = RMSNorm(sum) * weight  (9 -> 1)
//   rotary        x [B, heads, T, D] (any strides) rotated in place by cos/sin [B, T, D]     (5 ops -> 1)
//   silu_and_mul  out [rows, I] = silu(gate_up[:, :I]) * gate_up[:, I:]                       (2 ops -> 1)
//   kv_write      pools [S, KvH, D] at slots [B*T] <- key/value [B, KvH, T, D] (any strides)  (4 ops -> 1)
//   kv_write_int8 the same rows quantised per (token, KV head): codes [S, KvH, D] uint8, params [S, KvH, 2] fp16
//   copy_blocks   target [S', ...] blocks target_blocks <- source [S, ...] blocks source_blocks (int64 [n] on the device);
//                 the target may be page-locked host memory (the CPU tier), written through its device mapping
ALISA_API int alisa_copy_blocks(void* target, void* source, void* target_blocks, void* source_blocks, int block_size);
ALISA_API int alisa_rms_norm(void* out, void* sum, void* x, void* delta, void* weight, float eps);
ALISA_API int alisa_rotary(void* x, void* cos, void* sin);
ALISA_API int alisa_silu_and_mul(void* out, void* gate_up);
ALISA_API int alisa_kv_write(void* key_pool, void* value_pool, void* key, void* value, void* slots);
ALISA_API int alisa_kv_write_int8(void* key_codes, void* value_codes, void* key_params, void* value_params, void* key,
                                  void* value, void* slots);

// SWA's window score upkeep around a decode step's attention (window_scores.cuh has the layouts and the math):
//   window_slide   before selecting: the fed tokens start empty, the others lose the steps leaving the window
//                  (leaving [B, J] ring columns, -1: none) and have this step's column (columns [B]) cleared; with
//                  segments [B, G, 3] int32 and ranking [B, G, L] fp32 (else both null) it also writes what a
//                  per-group selection ranks by, in the same pass
//   window_record  after attention: adds each attended entry's weight, from the attention kernel's logits [B, H, n] and
//                  lse [B, H] over its selection (segments/listed), to the column and the sums
// history [G, R, S] / sums [G, S] fp32 (slots last), read_slots [B, L] logical slots, lengths [B] int64.
ALISA_API int alisa_window_slide(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* leaving,
                                 void* segments, void* ranking);
ALISA_API int alisa_window_record(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* logits,
                                  void* lse, void* segments, void* listed, int kv_heads);
//   window_ranking what one selection per layer over per-head sums ranks by: ranking [B, 1, L] fp32 from sums,
//                  read_slots and segments [B, 1, 3] int32 (any SG is accepted)
ALISA_API int alisa_window_ranking(void* ranking, void* sums, void* read_slots, void* segments);
//   select_top     listed [B, SG, k] int32 = positions of each row's largest ranking values, as many as its listed count
//                  in segments [B, SG, 3], ascending, then zeros (select_top.cuh)
ALISA_API int alisa_select_top(void* listed, void* ranking, void* segments);
//   window_slide_select  window_slide with its ranking, then select_top over it into listed [B, G, k] int32 (k >= 1),
//                  in one launch: the step's usual path (one selection group per score group)
ALISA_API int alisa_window_slide_select(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* leaving,
                                        void* segments, void* ranking, void* listed);

// Page summaries (KvPolicy ":summaries"; native/src/page_summaries.cuh), untiered pools with sums [blocks, KvH, D] fp32:
//   page_sums_add      the step's new rows at slots [B] int64 (one per sequence) added to their blocks' sums, a row at
//                      offset 0 starting its block afresh; rows_like: a tensor of the rows' dtype (INT8 rows are read
//                      back rounded to it)
ALISA_API int alisa_page_sums_add(void* key_sums, void* value_sums, void* key_pool, void* value_pool, void* key_params,
                                  void* value_params, void* slots, void* rows_like, int block_size);
//   summary_attention  after paged decode attention: each page's tokens the selection (segments [B, SG, 3], positions
//                      [B, SG, K] int32) left out, as one entry of their mean key and value with a log(count) bias,
//                      merged into out [B, H, D] and lse [B, H] fp32 in place, for rows with asks [B] uint8 != 0;
//                      query [B, H, D] contiguous, block_table [B, M] and lengths [B] int64
ALISA_API int alisa_summary_attention(void* out, void* lse, void* query, void* key_sums, void* value_sums, void* key_pool,
                                      void* value_pool, void* key_params, void* value_params, void* block_table, void* lengths,
                                      void* segments, void* positions, void* asks, int block_size, float scale);

#ifdef __cplusplus
}
#endif
