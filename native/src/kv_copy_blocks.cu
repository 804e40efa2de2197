// Moves whole KV blocks from the GPU pool to the CPU tier (ALISA's phase II offload) in one launch:
//   target[target_blocks[i] * block_bytes + x] = source[source_blocks[i] * block_bytes + x],  x < block_bytes
// source: a GPU pool tensor [S, ...] contiguous; target: the same shape's page-locked CPU tier, written through its
// device mapping (the GPU's stores cross PCIe directly: no staging copy, no host-side scatter, no host sync);
// block ids int64 on the device. One thread block per moved block; 16-byte pieces when block_bytes allows.
#include "elementwise.cuh"

namespace alisa {
namespace {

template <typename Piece>
__global__ void copy_blocks_kernel(char* __restrict__ target, const char* __restrict__ source,
                                   const int64_t* __restrict__ target_blocks, const int64_t* __restrict__ source_blocks,
                                   int64_t block_bytes) {
  const int64_t pieces = block_bytes / static_cast<int64_t>(sizeof(Piece));
  Piece* to = reinterpret_cast<Piece*>(target + target_blocks[blockIdx.x] * block_bytes);
  const Piece* from = reinterpret_cast<const Piece*>(source + source_blocks[blockIdx.x] * block_bytes);
  for (int64_t i = threadIdx.x; i < pieces; i += blockDim.x) to[i] = from[i];
}

}  // namespace

const char* launch_copy_blocks(void* target, const void* source, const int64_t* target_blocks, const int64_t* source_blocks,
                               int64_t blocks, int64_t block_bytes, cudaStream_t stream) {
  if (blocks == 0) return nullptr;
  char* to = static_cast<char*>(target);
  const char* from = static_cast<const char*>(source);
  if (block_bytes % 16 == 0)
    copy_blocks_kernel<uint4><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(to, from, target_blocks, source_blocks, block_bytes);
  else if (block_bytes % 4 == 0)
    copy_blocks_kernel<uint32_t><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(to, from, target_blocks, source_blocks, block_bytes);
  else
    return "block bytes must be a multiple of 4";
  cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace alisa
