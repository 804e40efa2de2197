"""How close cuBLAS's decode-shaped GEMMs come to the memory-bandwidth floor on this GPU.

usage: python3 bench/gemm_floor.py [--shape llama2-7b|opt-6.7b] [--batches 8,64,256] [--out FILE]

For each projection of one layer (fused QKV, output, fused gate/up, down) and each batch size it times
F.linear(x[M, K], W[N, K]) over 32 distinct weights (so nothing stays in L2), replayed as a CUDA graph, and prints
one JSON line: milliseconds per layer-set, the bytes read and the achieved TB/s, for both BLAS back ends.
"""
import argparse, json, sys

SHAPES = {  # name: (hidden, [(name, N, K)])
    "llama2-7b": [("qkv", 3 * 4096, 4096), ("o", 4096, 4096), ("gate_up", 2 * 11008, 4096), ("down", 4096, 11008)],
    "opt-6.7b": [("qkv", 3 * 4096, 4096), ("o", 4096, 4096), ("fc1", 16384, 4096), ("fc2", 4096, 16384)],
}


def time_graph(fn, reps=20):
    import torch
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    g.replay(); torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        g.replay()
    end.record(); torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="llama2-7b", choices=SHAPES)
    p.add_argument("--batches", default="8,64,256")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--out")
    a = p.parse_args()
    import torch  # after --help, which works without PyTorch
    import torch.nn.functional as F
    out = open(a.out, "a") if a.out else None
    dev = torch.device("cuda")
    for backend in ("cublas", "cublaslt"):
        torch.backends.cuda.preferred_blas_library(backend)
        for proj, n, k in SHAPES[a.shape]:
            ws = [torch.randn(n, k, device=dev, dtype=torch.float16) * 0.02 for _ in range(a.layers)]
            for m in map(int, a.batches.split(",")):
                x = torch.randn(m, k, device=dev, dtype=torch.float16)
                ms = time_graph(lambda: [F.linear(x, w) for w in ws])
                gb = a.layers * n * k * 2 / 1e9
                row = {"Shape": a.shape, "Backend": backend, "Projection": proj, "N": n, "K": k, "Batch": m,
                       "Layers": a.layers, "Ms": round(ms, 4), "GB": round(gb, 3), "TBps": round(gb / ms, 3)}
                print(json.dumps(row)); out and out.write(json.dumps(row) + "\n")
            del ws
            torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
