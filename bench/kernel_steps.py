"""Per-kernel GPU time of one decode step, from the ncu CSV that bench/gpu-profile.sh writes.

usage: python3 bench/kernel_steps.py NCU_CSV[.xz] [--steps 4] [--layers 32] [--json OUT]

ncu lists every kernel launch and CUDA-graph kernel node in launch order with its gpu__time_duration. A decode step
ends with the LM head's GEMM (the only GEMM whose output spans the vocabulary), so the launches between the last
--steps + 1 of those are the last --steps decode steps. Kernels are grouped by a short name (template arguments and
signatures dropped); the table gives microseconds per step and per layer and the share of the step.
"""
import argparse, collections, csv, io, json, lzma, re, sys


def short_name(name):
    name = re.sub(r"^void ", "", name).replace("<unnamed>::", "").replace("(anonymous namespace)::", "")
    return re.split(r"[<(]", name, maxsplit=1)[0][:60] or name[:60]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("csv")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--json")
    a = p.parse_args()
    raw = lzma.open(a.csv, "rt") if a.csv.endswith(".xz") else open(a.csv)
    rows = [r for r in csv.DictReader(io.StringIO(raw.read())) if r.get("Metric Name") == "gpu__time_duration.sum"]
    kernels = [(r["Kernel Name"], float(r["Metric Value"].replace(",", "")) / 1000.0, r["Grid Size"]) for r in rows]
    # the LM head: the GEMM (by name and grid) launched once per step, where each layer's GEMMs run once per layer; a
    # profile of the run's tail (ncu --launch-skip) starts and ends mid-step, so it is the rarest GEMM seen more than
    # --steps times (prefill GEMMs are rarer still), and it must run far less often than the layers' GEMMs
    gemm = lambda n: n.startswith(("nvjet", "sm90_", "cutlass", "ampere_")) or "gemm" in n.lower()
    counts = collections.Counter((k[0], k[2]) for k in kernels if gemm(k[0]))
    head = min((key for key, n in counts.items() if n > a.steps), key=lambda key: counts[key], default=None)
    if head is None or counts[head] * a.layers / 2 > max(counts.values()):
        sys.exit(f"no LM head GEMM seen more than {a.steps} times: fewer than {a.steps} whole decode steps in the profile")
    ends = [i for i, k in enumerate(kernels) if (k[0], k[2]) == head]
    window = kernels[ends[-a.steps - 1] + 1: ends[-1] + 1]
    per = collections.defaultdict(lambda: [0.0, 0])
    for name, us, _ in window:
        key = ("GEMM " + name) if gemm(name) else short_name(name)
        per[key][0] += us / a.steps
        per[key][1] += 1
    total = sum(v[0] for v in per.values())
    table = sorted(({"Kernel": k, "UsPerStep": round(v[0], 1), "UsPerLayer": round(v[0] / a.layers, 2),
                     "LaunchesPerStep": v[1] // a.steps, "Share": round(v[0] / total, 4)} for k, v in per.items()),
                   key=lambda r: -r["UsPerStep"])
    gemm_us = sum(r["UsPerStep"] for r in table if r["Kernel"].startswith("GEMM "))
    summary = {"Steps": a.steps, "LaunchesPerStep": len(window) // a.steps, "StepUs": round(total, 1),
               "GemmUs": round(gemm_us, 1), "OtherUs": round(total - gemm_us, 1)}
    print(json.dumps(summary))
    for r in table:
        print(f'{r["UsPerStep"]:9.1f} us {r["UsPerLayer"]:7.2f} /layer {100 * r["Share"]:5.1f}% {r["LaunchesPerStep"]:5d}x  {r["Kernel"]}')
    if a.json:
        with open(a.json, "w") as f:
            f.write(json.dumps(summary) + "\n")
            for r in table:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
