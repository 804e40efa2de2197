// select_top: each row's largest entries, as the positions the attention kernel's listed segment reads.
//   ranking  [rows, L] fp32 contiguous (e.g. window_ranking's [B, SG, L]; -inf marks non-candidates)
//   segments [rows, 3] int32 (sinks, listed count, recent start): row r takes its own count c_r =
//            min(segments[r, 1], k); the batch's k is the largest budget, and the listed
//            segment of a row reads only its first c_r entries, so each row needs exactly its own top c_r
//   listed   [rows, k] int32 contiguous, k <= L: the positions of the c_r largest values of row r in ascending position
//            order, then zeros (unread); among values equal to the c_r-th largest the lowest positions are taken, so
//            the result is deterministic (torch.topk may pick other positions among ties; the values are the same).
// One thread block per row: a radix select over the values' order-preserving uint32 keys (four 8-bit passes of a
// shared-memory histogram) finds the k-th largest key, then one ordered pass writes the positions. It replaces
// torch.topk's sort-based top-k plus the int64 -> int32 copy (three launches).
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

const char* launch_select_top(int32_t* listed, const float* ranking, const int32_t* segments, int64_t rows, int64_t length,
                              int64_t k, cudaStream_t stream);

}  // namespace alisa
