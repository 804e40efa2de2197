// Process-wide pieces of the native library: the error channel, the cuDNN SDPA switch, CUDA events, side streams.
#include "alisa_native.h"
#include "errors.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

namespace alisa {
thread_local std::string last_error;
}

extern "C" {

int alisa_abi_version(void) { return 7; }

const char* alisa_last_error(void) { return alisa::last_error.c_str(); }

int alisa_disable_cudnn_sdpa(void) {
  return alisa::guarded([] { at::globalContext().setSDPUseCuDNN(false); });
}

int alisa_event_create(void** event) {
  return alisa::guarded([&] {
    cudaEvent_t e;
    alisa::check_cuda(cudaEventCreate(&e), "cudaEventCreate");
    *event = e;
  });
}

int alisa_event_record(void* event) {
  return alisa::guarded([&] {
    alisa::check_cuda(cudaEventRecord(static_cast<cudaEvent_t>(event), at::cuda::getCurrentCUDAStream()), "cudaEventRecord");
  });
}

int alisa_event_elapsed_ms(void* start, void* end, float* milliseconds) {
  return alisa::guarded([&] {
    alisa::check_cuda(cudaEventSynchronize(static_cast<cudaEvent_t>(end)), "cudaEventSynchronize");
    alisa::check_cuda(cudaEventElapsedTime(milliseconds, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)),
                      "cudaEventElapsedTime");
  });
}

int alisa_event_synchronize(void* event) {
  return alisa::guarded([&] { alisa::check_cuda(cudaEventSynchronize(static_cast<cudaEvent_t>(event)), "cudaEventSynchronize"); });
}

void alisa_event_destroy(void* event) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

int alisa_side_stream_begin(void** side) {
  return alisa::guarded([&] {
    cudaEvent_t issued;
    alisa::check_cuda(cudaEventCreateWithFlags(&issued, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    alisa::check_cuda(cudaEventRecord(issued, at::cuda::getCurrentCUDAStream()), "cudaEventRecord");
    const c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
    const cudaError_t waited = cudaStreamWaitEvent(stream, issued, 0);
    cudaEventDestroy(issued);  // released once the wait is satisfied
    alisa::check_cuda(waited, "cudaStreamWaitEvent");
    *side = new c10::cuda::CUDAStreamGuard(stream);  // the current stream until alisa_side_stream_end
  });
}

int alisa_side_stream_end(void* side, void* done) {
  return alisa::guarded([&] {
    auto* guard = static_cast<c10::cuda::CUDAStreamGuard*>(side);
    const cudaError_t recorded = cudaEventRecord(static_cast<cudaEvent_t>(done), guard->current_stream());
    delete guard;  // restores the previous current stream
    alisa::check_cuda(recorded, "cudaEventRecord");
  });
}

int alisa_stream_wait(void* event) {
  return alisa::guarded([&] {
    alisa::check_cuda(cudaStreamWaitEvent(at::cuda::getCurrentCUDAStream(), static_cast<cudaEvent_t>(event), 0), "cudaStreamWaitEvent");
  });
}

}  // extern "C"
