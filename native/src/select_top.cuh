// select_top: the k largest entries of each row, as the positions the attention kernel's listed segment reads.
//   ranking [rows, L] fp32 contiguous (e.g. window_ranking's [B, SG, L]; -inf marks non-candidates)
//   listed  [rows, k] int32 contiguous, k <= L: the positions of the k largest values of the row, in ascending
//           position order; among values equal to the k-th largest the lowest positions are taken, so the result is
//           deterministic (torch.topk may pick other positions among ties; the values taken are the same multiset).
// One thread block per row: a radix select over the values' order-preserving uint32 keys (four 8-bit passes of a
// shared-memory histogram) finds the k-th largest key, then one ordered pass writes the positions. It replaces
// torch.topk's sort-based top-k plus the int64 -> int32 copy (three launches).
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace alisa {

const char* launch_select_top(int32_t* listed, const float* ranking, int64_t rows, int64_t length, int64_t k,
                              cudaStream_t stream);

}  // namespace alisa
