// Process-wide pieces of the native library: the error channel, the cuDNN SDPA switch, CUDA events.
#include "alisa_native.h"
#include "errors.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

namespace alisa {
thread_local std::string last_error;
}

extern "C" {

int alisa_abi_version(void) { return 5; }

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

void alisa_event_destroy(void* event) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

}  // extern "C"
