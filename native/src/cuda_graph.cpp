// CUDA graphs through libtorch's at::cuda::CUDAGraph, so that TorchSharp ops issued from C# between capture_begin
// and capture_end are recorded (they run on libtorch's current stream, which capture sets to a side stream).
#include "alisa_native.h"
#include "errors.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <optional>

namespace {

struct Graph {
  at::cuda::CUDAGraph graph;
  std::optional<c10::cuda::CUDAStreamGuard> capture_stream;  // set between capture_begin and capture_end
};

}  // namespace

extern "C" {

int alisa_graph_create(void** graph) {
  return alisa::guarded([&] { *graph = new Graph(); });
}

int alisa_graph_capture_begin(void* graph, void* share_pool_with) {
  return alisa::guarded([&] {
    auto* g = static_cast<Graph*>(graph);
    // capture may not start while the legacy stream has pending work that it would then depend on
    alisa::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    g->capture_stream.emplace(c10::cuda::getStreamFromPool());
    auto pool = share_pool_with ? static_cast<Graph*>(share_pool_with)->graph.pool() : at::cuda::MempoolId_t{0, 0};
    // thread-local: other threads of the process (the .NET runtime's) may keep calling CUDA meanwhile
    g->graph.capture_begin(pool, cudaStreamCaptureModeThreadLocal);
  });
}

int alisa_graph_capture_end(void* graph) {
  return alisa::guarded([&] {
    auto* g = static_cast<Graph*>(graph);
    try {
      g->graph.capture_end();
    } catch (...) {
      g->capture_stream.reset();
      throw;
    }
    g->capture_stream.reset();
  });
}

int alisa_graph_replay(void* graph) {
  return alisa::guarded([&] { static_cast<Graph*>(graph)->graph.replay(); });
}

void alisa_graph_destroy(void* graph) { delete static_cast<Graph*>(graph); }

}  // extern "C"
