#!/usr/bin/env bash
# two-gpu-cluster.sh: the cluster measured across GPUs on one machine. Starts Redis, a gateway and one worker silo per
# GPU (CUDA_VISIBLE_DEVICES pins each), then runs `alisa load` through the gateway three times:
#   1. one silo                 (concurrency C)
#   2. all silos                (concurrency C x silos): total tok/s against run 1, target >= 1.8x for two
#   3. all silos, one killed -9 a third into the run: every stream must complete exactly once (resumed elsewhere)
# and writes load-*.json, spread-*.json (tokens each silo generated) and summary.json under --out. A process that exits
# while the script waits for it (Redis, the gateway, a silo) stops the run at once, with its log's last lines.
#
# usage: bash scripts/two-gpu-cluster.sh [options]
#   --device cuda|cpu      cuda (default): silo i on GPU i; cpu: a CPU run of the same steps (tests, CI machines)
#   --gpus N               silos (default: the GPUs nvidia-smi lists; 2 with --device cpu)
#   --model FOLDER         checkpoint for the silos (default models/tiny-llama)
#   --concurrency C        streams in flight per silo (default 32)
#   --duration S           seconds per load run (default 60)
#   --prompt-len A:B --output-len A:B   token ranges of the load (default 64:128 and 128:256)
#   --redis HOST:PORT      use this Redis instead of starting redis-server
#   --redis-server PATH    the redis-server binary to start (default: on PATH, else .gpu/redis/redis-server from
#                          scripts/pack-redis.sh)
#   --silo-args "ARGS"     more silo settings, e.g. "--Worker:DType fp16 --Worker:GpuMemoryUtilization 0.85"
#   --base-port P          ports P.. for Redis, the gateway and the silos (default 47000)
#   --out DIR              results (default $OUT/two-gpu if OUT is set, else artifacts/two-gpu)
# The program: .gpu/run.sh (bash scripts/pack-gpu.sh, carried to the GPU machine), else the CLI built here
# (dotnet build src/Cli -c Release). More hosts: start `alisa silo` there with the same --Cluster:Redis and
# --Cluster:AdvertisedIp set to that host's address (docs/deploy.md).
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
die() { echo "two-gpu-cluster: $*" >&2; exit 1; }

device=cuda gpus="" model=models/tiny-llama concurrency=32 duration=60 prompt_len=64:128 output_len=128:256
redis="" redis_server="" silo_args="" base=47000 out=${OUT:+$OUT/two-gpu}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) device=$2 ;; --gpus) gpus=$2 ;; --model) model=$2 ;; --concurrency) concurrency=$2 ;;
    --duration) duration=$2 ;; --prompt-len) prompt_len=$2 ;; --output-len) output_len=$2 ;; --redis) redis=$2 ;;
    --redis-server) redis_server=$2 ;; --silo-args) silo_args=$2 ;; --base-port) base=$2 ;; --out) out=$2 ;;
    *) die "unknown option '$1' (--help lists them)" ;;
  esac
  shift 2 || die "$1 needs a value"
done
out=${out:-artifacts/two-gpu}
[[ $device == cuda || $device == cpu ]] || die "--device must be cuda or cpu, not '$device'"
[[ -d $model ]] || die "no model folder '$model'"
model=$(cd "$model" && pwd)
if [[ -z $gpus ]]; then
  if [[ $device == cpu ]]; then gpus=2
  else gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true); fi
fi
[[ $gpus =~ ^[0-9]+$ && $gpus -ge 2 ]] || die "need at least 2 silos (--gpus; nvidia-smi found ${gpus:-none})"

# the packed program runs against the GPU machine's CUDA libtorch; a CPU run takes the build here
if [[ $device == cuda && -f .gpu/run.sh ]]; then alisa=(bash .gpu/run.sh)
elif [[ -f src/Cli/bin/Release/net10.0/alisa.dll ]]; then alisa=(dotnet src/Cli/bin/Release/net10.0/alisa.dll)
elif [[ -f .gpu/run.sh ]]; then alisa=(bash .gpu/run.sh)
else die "no program: pack it with 'bash scripts/pack-gpu.sh' (GPU machine) or 'dotnet build src/Cli -c Release'"; fi

mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
cluster_id=two-gpu-$$
grpc=$((base + 1)) http=$((base + 2))
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# HTTP GET over bash's /dev/tcp (the GPU machine may lack curl): prints the status line's code, then the body
http_get() {
  local port=$1 path=$2 reply
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2> /dev/null || { echo 000; return 0; }
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  reply=$(timeout 5 cat <&3 || true)
  exec 3>&-
  printf '%s\n' "$reply" | head -n 1 | awk '{print $2}'
  printf '%s\n' "$reply" | sed '1,/^\r\{0,1\}$/d'
}
wait_for() {  # wait_for SECONDS WHAT PID LOG COMMAND...: fails at once, with LOG's tail, when process PID has exited
  local seconds=$1 what=$2 pid=$3 log=$4; shift 4
  for ((i = 0; i < seconds * 2; i++)); do
    "$@" && return 0
    if ! kill -0 "$pid" 2> /dev/null; then tail -n 20 "$log" >&2; die "waiting for $what: its process exited (log: $log)"; fi
    sleep 0.5
  done
  die "timed out after ${seconds}s waiting for $what (logs in $out/logs)"
}
ready() { [[ $(http_get "$1" "$2" | head -n 1) == 200 ]]; }
# the gateway's count of worker silos that answered its last load poll
workers_seen() { http_get "$http" /metrics | awk '$1 == "alisa_worker_silos" {print int($2)}'; }
sees_workers() { [[ $(workers_seen) == "$1" ]]; }
# tokens each silo generated so far, as a JSON object {"silo0": N, ...}; null for a silo that does not answer
silo_tokens() {
  local i reply n
  printf '{'
  for ((i = 0; i < gpus; i++)); do
    reply=$(http_get "$((base + 10 + i * 3 + 2))" /metrics)
    n=null
    if [[ $(head -n 1 <<< "$reply") == 200 ]]; then
      n=$(awk '$1 ~ /^alisa_silo_generation_tokens_total/ {s += $2} END {printf "%d", s}' <<< "$reply")
    fi
    [[ $i == 0 ]] || printf ', '
    printf '"silo%d": %s' "$i" "$n"
  done
  printf '}'
}

if [[ -z $redis ]]; then
  redis_server=${redis_server:-$(command -v redis-server || echo .gpu/redis/redis-server)}
  [[ -x $redis_server ]] || die "no redis-server binary (give --redis-server PATH or --redis HOST:PORT)"
  # a binary packed by scripts/pack-redis.sh brings its libraries in lib/ beside it
  LD_LIBRARY_PATH=$(dirname "$redis_server")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$redis_server" --port "$base" --bind 127.0.0.1 --save "" --appendonly no > "$out/logs/redis.log" 2>&1 &
  pids+=($!)
  redis=127.0.0.1:$base
  wait_for 20 "redis-server on port $base" "${pids[-1]}" "$out/logs/redis.log" bash -c "exec 3<>/dev/tcp/127.0.0.1/$base" 2> /dev/null
fi
common=(--Cluster:Redis "$redis" --Cluster:ClusterId "$cluster_id" --Cluster:ServiceId "$cluster_id"
        --Logging:LogLevel:Default Warning --Logging:LogLevel:AlisaCluster Information)

echo "two-gpu-cluster: gateway on gRPC $grpc, Redis $redis, $gpus silos on $device, model $model"
"${alisa[@]}" gateway "${common[@]}" --Gateway:GrpcPort "$grpc" --Gateway:HttpPort "$http" --Gateway:RequireApiKey false \
  > "$out/logs/gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!
silo_pids=()
start_silo() {
  local i=$1 port=$((base + 10 + $1 * 3)) visible=$1 dev=cuda:0 extra=()
  if [[ $device == cpu ]]; then visible="" dev=cpu extra=(--Worker:Threads 1); fi
  # shellcheck disable=SC2086 # --silo-args is a list of settings
  CUDA_VISIBLE_DEVICES=$visible "${alisa[@]}" silo "${common[@]}" --Cluster:SiloPort "$port" --Cluster:GatewayPort "$((port + 1))" \
    --Cluster:AdvertisedIp 127.0.0.1 --Silo:HttpPort "$((port + 2))" --Worker:Model "$model" --Worker:Devices:0 "$dev" \
    "${extra[@]}" $silo_args > "$out/logs/silo$i.log" 2>&1 &
  silo_pids[i]=$!
  pids+=($!)
}
wait_ready() {  # the silo's engines serve and the gateway polls that many silos
  local i
  for ((i = 0; i < $1; i++)); do
    wait_for 600 "silo $i ready" "${silo_pids[i]}" "$out/logs/silo$i.log" ready "$((base + 10 + i * 3 + 2))" /health/ready
  done
  wait_for 60 "the gateway to see $1 silos" "$gateway_pid" "$out/logs/gateway.log" sees_workers "$1"
}
run_load() {  # run_load NAME CONCURRENCY
  local before after
  before=$(silo_tokens)
  "${alisa[@]}" load --target "http://127.0.0.1:$grpc" --concurrency "$2" --duration "$duration" \
    --prompt-len "$prompt_len" --output-len "$output_len" --out "$out/load-$1.json" > "$out/logs/load-$1.log" 2>&1 || true
  [[ -s $out/load-$1.json ]] || die "load run '$1' wrote no report (see $out/logs/load-$1.log)"
  after=$(silo_tokens)
  printf '{"before": %s, "after": %s}\n' "$before" "$after" > "$out/spread-$1.json"
}

start_silo 0
wait_ready 1
echo "two-gpu-cluster: run 1: 1 silo, concurrency $concurrency, ${duration}s"
run_load 1silo "$concurrency"

for ((i = 1; i < gpus; i++)); do start_silo "$i"; done
wait_ready "$gpus"
echo "two-gpu-cluster: run 2: $gpus silos, concurrency $((concurrency * gpus)), ${duration}s"
run_load "${gpus}silos" "$((concurrency * gpus))"

victim=$((gpus - 1))
echo "two-gpu-cluster: run 3: $gpus silos, silo $victim killed -9 after $((duration / 3))s"
( sleep "$((duration / 3))"; kill -9 "${silo_pids[victim]}" ) &
run_load kill "$((concurrency * gpus))"
resumes=$(http_get "$http" /metrics | awk '$1 == "alisa_stream_resumes_total" {print int($2)}')

python3 - "$out" "$gpus" "$device" "$model" "${resumes:-0}" <<'PY'
import json, sys
out, gpus, device, model, resumes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def run(name):
    load = json.load(open(f"{out}/load-{name}.json"))
    spread = json.load(open(f"{out}/spread-{name}.json"))
    # a silo that stopped answering (the killed one) has no count after the run
    tokens = {k: None if after is None else after - (spread["before"].get(k) or 0) for k, after in spread["after"].items()}
    return {"mode": load["Mode"], "requests": load["Requests"], "completed": load["Completed"], "corrupted": load["Corrupted"],
            "errors": load["ErrorsByStatus"], "output_tok_s": round(load["OutputTokensPerSecond"], 1),
            "ttft_p50_ms": load["TtftMs"]["P50"], "itl_p50_ms": load["InterTokenMs"]["P50"], "tokens_per_silo": tokens}
one, many, kill = run("1silo"), run(f"{gpus}silos"), run("kill")
summary = {
    "device": device, "silos": gpus, "model": model, "one_silo": one, "all_silos": many,
    "speedup": round(many["output_tok_s"] / one["output_tok_s"], 2) if one["output_tok_s"] else None, "speedup_target": 1.8,
    "kill": {**kill, "stream_resumes": resumes,
             "every_stream_exactly_once": kill["requests"] == kill["completed"] and kill["corrupted"] == 0 and not kill["errors"]},
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
echo "two-gpu-cluster: results in $out (summary.json)"
