// Errors cross the C ABI as a status code plus a per-thread message (alisa_last_error).
#pragma once
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>

namespace alisa {

extern thread_local std::string last_error;

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

// Runs `body`; returns 0, or 1 with the exception's message in last_error.
template <typename Body>
int guarded(Body&& body) {
  try {
    body();
    last_error.clear();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
    return 1;
  }
}

}  // namespace alisa
