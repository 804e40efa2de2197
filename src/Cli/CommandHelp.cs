using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Silo.Extensions;

namespace AlisaCluster.Cli;

/// <summary>What `alisa --help` and `alisa COMMAND --help` print: each command's purpose and options.</summary>
public static class CommandHelp
{
    private const string Model = "  model:  --model FOLDER (default models/tiny-llama) | --dummy-weights llama2-7b|llama2-13b|llama3-8b|opt-6.7b|opt-13b\n" +
                                 "          --device cpu|cuda[:N] (default: cuda when present)  --dtype fp32|fp16|bf16  --threads N";

    public static readonly IReadOnlyDictionary<string, string> Texts = new Dictionary<string, string>
    {
        ["generate"] = "Streams one completion from a local engine.\n" +
            "  --prompt TEXT  --max-tokens 64  --temperature 0.8 (0 = greedy)  --top-p 0.95  --top-k 0  --repetition-penalty 1.0  --stop A,B\n" + Model,
        ["conformance"] = "Compares the model's logits and greedy text with its transformers reference dump.\n" +
            "  --reference FILE (default MODEL/reference-outputs.json)  --out FILE\n" + Model,
        ["bench"] = "Offline throughput: random prompts, fixed output length; prints one JSON line per run (host and GPU step time apart).\n" +
            "  --batch 1,16  --prompt-len 128  --gen-len 128  --kv-mode gpu,offload,tiered  --decode-step auto,eager,graph\n" +
            "  --policy dense|swa:0.8|...  --int8  --gpu-mem-gib G (emulate a smaller card; else --gpu-util 0.9 of the card)  --cpu-mem-gib 64  --kv-tokens N\n" +
            "  --late-prompt-len N (a long prompt arriving mid-decode; reports the stall)  --prefill-chunk N  --no-async-scheduling\n" +
            "  --explain  --predict  --profile FILE  --hbm-gbps 4500  --hot-miss-rate 0.002 (planner: share of listed CPU-tier rows the hot set copies in per step)\n" +
            "  --tier-plan p1,p2,alpha,beta,recent (tiered mode: this plan, not the planner's)\n" +
            "  --out FILE (JSON lines appended)\n" +
            "  --load: instead, time loading --model FOLDER (--device, --dtype) and sample host memory; one JSON line\n" + Model,
        ["bench-report"] = "Merges bench and transformers JSON lines into a Markdown table and an SVG plot per model shape.\n" +
            "  --in A.jsonl,B.jsonl  --out DIR (default bench-report)  --gen-len 512",
        ["eval"] = "The accuracy study: perplexity and greedy agreement per KV policy and sparsity, against the independent reference.\n" +
            "  --text data/heldout-kjv.txt,...  --policies local,streaming,h2o,swa  --sparsity 0.5,0.7,0.8,0.9  --int8 off|on|both\n" +
            "  --window 1024  --batch 32  --max-windows N  --agreement-prompts 8  --agreement-tokens 64  --agreement-prompt-len 64\n" +
            "  --reference data/sparse-reference.jsonl  --split FILE  --out DIR (default eval-out)\n" +
            "  --text self: windows the model samples itself (--self-windows 4 --self-seed 1), to choose variants without held-out text\n" +
            "  policies: dense, local, streaming, h2o, swa[:sinks=N:local=F:mean:per-head:learned], quest[:local=F:sinks=N:ada:tokens]; any sparse policy takes :summaries\n" + Model,
        ["eval-report"] = "Merges eval results into tables and plots.\n  --in A.jsonl,...  --out DIR (default eval-report)",
        ["calibrate"] = "Learns the per-layer, per-KV-head SWA split from text the model generates itself (stored next to the checkpoint).\n" +
            "  --sequences 4  --length 1024  --seed 0  --sparsity 0.5,0.7,0.8,0.9  --out FILE\n" + Model,
        ["demo"] = "Starts a single-node cluster (silo + gRPC gateway) on the bundled model and streams a completion through the gateway.\n" +
            "  --prompt TEXT  --max-tokens 64  --temperature 0.8  --top-p 0.95  --model FOLDER\n" +
            "  --serve (keep serving: gRPC 127.0.0.1:50051, OpenAI API http://127.0.0.1:8080/v1 with key alisa-demo-key)",
        ["load"] = "Load generator against a gateway, over gRPC or the OpenAI API (Poisson arrivals or fixed concurrency); prints latency percentiles.\n" +
            "  --api grpc|openai  --target http://127.0.0.1:50051 (openai: http://127.0.0.1:8080) | --dev (start a dev cluster)\n" +
            "  --rate R | --concurrency N  --duration 30\n" +
            "  --prompt-len 16:64  --output-len 16:64  --seed 1  --api-key KEY  --out FILE",
        ["silo"] = "Runs a worker silo, as the AlisaCluster.Silo program does (for machines that carry only this CLI).\n" +
            SiloHostingExtensions.Help,
        ["gateway"] = "Runs a gRPC gateway, as the AlisaCluster.Gateway program does (for machines that carry only this CLI).\n" +
            GatewayServiceExtensions.Help,
        ["native-check"] = "On a CUDA machine with native/build/libalisa_native.so: every native kernel against its reference, and the\n" +
            "CUDA-graph decode step against the eager one on the bundled models. JSON lines; exit code 1 on a mismatch.\n" +
            "  --models tiny-llama,tiny-opt  --out FILE",
    };

    public static string Usage => "usage: alisa COMMAND [--option value ...]   (alisa COMMAND --help for its options)\n" +
        string.Join("\n", Texts.Select(t => $"  {t.Key,-13} {t.Value.Split('\n')[0]}"));
}
