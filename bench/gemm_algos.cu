// Decode GEMMs of a 7B shape: the algorithm cuBLAS picks by default (cublasGemmEx, what torch's linear runs) against
// every algorithm cublasLt's heuristic offers, timed on the GPU machine. It answers whether a tuned GEMM could move
// the decode step closer to its bandwidth floor. Weights rotate over enough copies that L2 holds none of them, as in
// a real step. One JSON line per (M, N, K): default us, best us, the best algorithm's rank in the heuristic's list.
//
//   nvcc -O2 -std=c++17 bench/gemm_algos.cu -lcublasLt -lcublas -o /tmp/gemm_algos && /tmp/gemm_algos
//
// Layout as torch's linear: x [M, K] row-major times w [N, K] row-major transposed = y [M, N] row-major, fp16 in and
// out, fp32 accumulation. In cuBLAS's column-major terms: y^T [N, M] = w [K, N]^T x^T [K, M] (op A = T, op B = N).
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK_CUDA(x) do { cudaError_t e = (x); if (e != cudaSuccess) { fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)
#define CHECK_BLAS(x) do { int s = (int)(x); if (s != 0) { fprintf(stderr, "%s: status %d\n", #x, s); exit(1); } } while (0)

static const int kIters = 200;
static const size_t kRotateBytes = size_t(1) << 30;  // weights cycled per timing: twenty times the L2

template <typename Launch>
static float time_us(Launch launch, int copies, cudaStream_t stream) {
  for (int i = 0; i < 10; i++) launch(i % copies);
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaEventRecord(start, stream));
  for (int i = 0; i < kIters; i++) launch(i % copies);
  CHECK_CUDA(cudaEventRecord(stop, stream));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms * 1000 / kIters;
}

int main(int argc, char** argv) {
  if (argc > 1) { printf("gemm_algos: times the decode GEMMs of a 7B shape (default cuBLAS vs cublasLt's algorithms)\n"); return 0; }
  const int ms[] = {64, 256};
  const int nk[][2] = {{12288, 4096}, {4096, 4096}, {22016, 4096}, {4096, 11008}};  // qkv, o, gate_up, down
  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreate(&stream));
  cublasHandle_t blas;
  CHECK_BLAS(cublasCreate(&blas));
  CHECK_BLAS(cublasSetStream(blas, stream));
  cublasLtHandle_t lt;
  CHECK_BLAS(cublasLtCreate(&lt));
  const size_t workspace_bytes = 64 << 20;
  void* workspace;
  CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
  for (int m : ms)
    for (auto& shape : nk) {
      const int n = shape[0], k = shape[1];
      const size_t w_bytes = size_t(n) * k * sizeof(__half);
      const int copies = int(kRotateBytes / w_bytes) + 1;
      __half *w, *x, *y;
      CHECK_CUDA(cudaMalloc(&w, w_bytes * copies));
      CHECK_CUDA(cudaMalloc(&x, size_t(m) * k * sizeof(__half)));
      CHECK_CUDA(cudaMalloc(&y, size_t(m) * n * sizeof(__half)));
      CHECK_CUDA(cudaMemset(w, 0, w_bytes * copies));
      CHECK_CUDA(cudaMemset(x, 0, size_t(m) * k * sizeof(__half)));
      const float alpha = 1, beta = 0;
      auto wi = [&](int i) { return w + size_t(i) * n * k; };
      const float default_us = time_us([&](int i) {
        CHECK_BLAS(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, wi(i), CUDA_R_16F, k, x, CUDA_R_16F, k,
                                &beta, y, CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }, copies, stream);

      cublasLtMatmulDesc_t op;
      CHECK_BLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      CHECK_BLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
      CHECK_BLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
      cublasLtMatrixLayout_t a_layout, b_layout, c_layout;
      CHECK_BLAS(cublasLtMatrixLayoutCreate(&a_layout, CUDA_R_16F, k, n, k));
      CHECK_BLAS(cublasLtMatrixLayoutCreate(&b_layout, CUDA_R_16F, k, m, k));
      CHECK_BLAS(cublasLtMatrixLayoutCreate(&c_layout, CUDA_R_16F, n, m, n));
      cublasLtMatmulPreference_t pref;
      CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
      CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes, sizeof(workspace_bytes)));
      const int wanted = 32;
      std::vector<cublasLtMatmulHeuristicResult_t> results(wanted);
      int found = 0;
      CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(lt, op, a_layout, b_layout, c_layout, c_layout, pref, wanted, results.data(), &found));
      float best_us = 1e9, first_us = 0;
      int best = -1;
      for (int r = 0; r < found; r++) {
        if (results[r].state != CUBLAS_STATUS_SUCCESS) continue;
        const float us = time_us([&](int i) {
          CHECK_BLAS(cublasLtMatmul(lt, op, &alpha, wi(i), a_layout, x, b_layout, &beta, y, c_layout, y, c_layout,
                                    &results[r].algo, workspace, workspace_bytes, stream));
        }, copies, stream);
        if (r == 0) first_us = us;
        if (us < best_us) { best_us = us; best = r; }
      }
      const double gb = double(w_bytes) / 1e9;
      printf("{\"M\":%d,\"N\":%d,\"K\":%d,\"DefaultUs\":%.2f,\"DefaultTBs\":%.2f,\"LtFirstUs\":%.2f,\"LtBestUs\":%.2f,\"LtBestTBs\":%.2f,"
             "\"LtBestRank\":%d,\"Candidates\":%d}\n",
             m, n, k, default_us, gb / default_us * 1e6 / 1e3, first_us, best_us, gb / best_us * 1e6 / 1e3, best, found);
      fflush(stdout);
      cublasLtMatmulPreferenceDestroy(pref);
      cublasLtMatrixLayoutDestroy(a_layout);
      cublasLtMatrixLayoutDestroy(b_layout);
      cublasLtMatrixLayoutDestroy(c_layout);
      cublasLtMatmulDescDestroy(op);
      cudaFree(w); cudaFree(x); cudaFree(y);
    }
  return 0;
}
