// C ABI of the paged decode attention kernel, its weights kernel and the hot set update: checks the TorchSharp tensors it is given, then
// launches on libtorch's current stream (so the launch is captured when a CUDA graph is being recorded).
#include "alisa_native.h"
#include "errors.h"
#include "hot_set.cuh"
#include "paged_decode_attention.cuh"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

constexpr const char* kWhat = "paged decode attention";

const at::Tensor* optional(void* handle) { return static_cast<const at::Tensor*>(handle); }

alisa::ElementType element_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return alisa::ElementType::Float32;
    case at::kHalf: return alisa::ElementType::Float16;
    case at::kBFloat16: return alisa::ElementType::BFloat16;
    default: TORCH_CHECK(false, kWhat, ": the query dtype must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
  return alisa::ElementType::Float32;  // not reached
}

void expect(const at::Tensor& t, const char* name, at::ScalarType type, int64_t dims, const at::Device& device) {
  TORCH_CHECK(t.device() == device, kWhat, ": ", name, " is on ", t.device(), ", expected ", device);
  TORCH_CHECK(t.scalar_type() == type, kWhat, ": ", name, " has dtype ", t.scalar_type(), ", expected ", type);
  TORCH_CHECK(t.dim() == dims, kWhat, ": ", name, " has ", t.dim(), " dims, expected ", dims);
  TORCH_CHECK(t.is_contiguous(), kWhat, ": ", name, " must be contiguous");
}

// A tier's pool tensors checked against the GPU pool's shape; the CPU tier's host pointers are mapped for the device.
alisa::KvPoolView pool_view(void* keys_h, void* values_h, void* key_params_h, void* value_params_h, const at::Tensor& like,
                            bool int8, bool host, int64_t head_dim) {
  const at::Tensor* keys = optional(keys_h);
  const at::Tensor* values = optional(values_h);
  TORCH_CHECK(keys && values, kWhat, ": a pool needs keys and values");
  const auto type = like.scalar_type();
  const auto device = host ? at::Device(at::kCPU) : like.device();
  expect(*keys, host ? "cpu key pool" : "key pool", type, 3, device);
  expect(*values, host ? "cpu value pool" : "value pool", type, 3, device);
  TORCH_CHECK(keys->sizes() == values->sizes() && keys->size(2) == head_dim && keys->size(1) == like.size(1), kWhat,
              ": pools ", keys->sizes(), " / ", values->sizes(), " must be [S, KvH, ", head_dim, "] like ", like.sizes());
  if (host) TORCH_CHECK(keys->is_pinned() && values->is_pinned(), kWhat, ": the CPU tier must be page-locked memory");
  alisa::KvPoolView view{keys->data_ptr(), values->data_ptr(), nullptr, nullptr};
  if (int8) {
    const at::Tensor* kp = optional(key_params_h);
    const at::Tensor* vp = optional(value_params_h);
    TORCH_CHECK(kp && vp, kWhat, ": INT8 pools need their row parameters");
    expect(*kp, "key params", at::kHalf, 3, device);
    expect(*vp, "value params", at::kHalf, 3, device);
    TORCH_CHECK(kp->size(0) == keys->size(0) && kp->size(1) == keys->size(1) && kp->size(2) == 2 && vp->sizes() == kp->sizes(),
                kWhat, ": INT8 row parameters must be [S, KvH, 2], got ", kp->sizes());
    if (host) TORCH_CHECK(kp->is_pinned() && vp->is_pinned(), kWhat, ": the CPU tier must be page-locked memory");
    view.key_params = kp->data_ptr();
    view.value_params = vp->data_ptr();
  }
  if (host) {
    void* mapped[4] = {};
    const void* pointers[4] = {view.keys, view.values, view.key_params, view.value_params};
    for (int i = 0; i < (int8 ? 4 : 2); i++)
      alisa::check_cuda(cudaHostGetDevicePointer(&mapped[i], const_cast<void*>(pointers[i]), 0), "mapping the CPU tier");
    view = alisa::KvPoolView{mapped[0], mapped[1], mapped[2], mapped[3]};
  }
  return view;
}

}  // namespace

extern "C" int alisa_paged_decode_attention(void* out_handle, void* query_handle, void* key_pool, void* value_pool,
                                            void* key_params, void* value_params, void* cpu_key_pool, void* cpu_value_pool,
                                            void* cpu_key_params, void* cpu_value_params, int64_t gpu_blocks,
                                            void* block_table_handle, void* lengths_handle, void* segments_handle,
                                            void* positions_handle, void* hot_table_handle, void* logits_handle,
                                            void* lse_handle, int block_size, float scale) {
  return alisa::guarded([&] {
    const at::Tensor& out = *static_cast<at::Tensor*>(out_handle);
    const at::Tensor& keys = *static_cast<at::Tensor*>(key_pool);
    const auto device = out.device();
    TORCH_CHECK(device.is_cuda(), kWhat, ": the output must be on a CUDA device, it is on ", device);
    const bool int8 = keys.scalar_type() == at::kByte;
    TORCH_CHECK(int8 || keys.scalar_type() == out.scalar_type(), kWhat, ": the pool dtype ", keys.scalar_type(),
                " must be uint8 (INT8) or the query's ", out.scalar_type());
    expect(out, "out", out.scalar_type(), 3, device);
    const int64_t batch = out.size(0), heads = out.size(1), head_dim = out.size(2), kv_heads = keys.size(1);
    TORCH_CHECK(heads % kv_heads == 0, kWhat, ": ", heads, " query heads do not split into ", kv_heads, " KV heads");

    alisa::PagedDecodeAttentionArgs args{};
    args.type = element_type(out);
    args.format = int8 ? alisa::KvFormat::Int8 : alisa::KvFormat::Native;
    args.gpu = pool_view(key_pool, value_pool, key_params, value_params, keys, int8, false, head_dim);
    TORCH_CHECK(block_size > 0 && keys.size(0) % block_size == 0, kWhat, ": pool of ", keys.size(0),
                " slots is not a whole number of blocks of ", block_size);
    const bool tiered = cpu_key_pool != nullptr;
    if (tiered) args.cpu = pool_view(cpu_key_pool, cpu_value_pool, cpu_key_params, cpu_value_params, keys, int8, true, head_dim);
    TORCH_CHECK(gpu_blocks > 0 && gpu_blocks <= keys.size(0) / block_size, kWhat, ": gpu_blocks ", gpu_blocks,
                " must be in [1, ", keys.size(0) / block_size, "]");
    args.gpu_blocks = tiered ? gpu_blocks : INT64_MAX;

    const at::Tensor& block_table = *static_cast<at::Tensor*>(block_table_handle);
    const at::Tensor& lengths = *static_cast<at::Tensor*>(lengths_handle);
    expect(block_table, "block_table", at::kLong, 2, device);
    expect(lengths, "lengths", at::kLong, 1, device);
    TORCH_CHECK(block_table.size(0) == batch && lengths.size(0) == batch, kWhat, ": block_table ", block_table.sizes(),
                " and lengths ", lengths.sizes(), " must have batch ", batch);
    const at::Tensor& query_in = *static_cast<at::Tensor*>(query_handle);
    TORCH_CHECK(query_in.numel() == batch * heads * head_dim && query_in.scalar_type() == out.scalar_type() && query_in.device() == device,
                kWhat, ": query must hold [", batch, ", ", heads, ", ", head_dim, "] of ", out.scalar_type(), " on ", device);
    // read in place when each row's heads are contiguous (a head view of the fused QKV projection is), else a copy
    at::Tensor query = query_in.reshape({batch, heads, head_dim});
    if (query.stride(2) != 1 || query.stride(1) != head_dim) query = query.contiguous();

    if (const at::Tensor* segments = optional(segments_handle)) {
      const at::Tensor* positions = optional(positions_handle);
      TORCH_CHECK(positions, kWhat, ": a selection needs its positions");
      expect(*segments, "segments", at::kInt, 3, device);
      expect(*positions, "positions", at::kInt, 3, device);
      TORCH_CHECK(segments->size(0) == batch && segments->size(2) == 3 && positions->size(0) == batch &&
                  positions->size(1) == segments->size(1), kWhat, ": segments ", segments->sizes(), " / positions ",
                  positions->sizes(), " must be [B, SG, 3] / [B, SG, max]");
      args.segments = segments->data_ptr<int32_t>();
      args.positions = positions->data_ptr<int32_t>();
      args.selection_groups = static_cast<int>(segments->size(1));
      args.max_listed = static_cast<int>(positions->size(2));
    }
    if (const at::Tensor* hot_table = optional(hot_table_handle)) {
      TORCH_CHECK(args.segments != nullptr, kWhat, ": a hot table needs a selection");
      expect(*hot_table, "hot_table", at::kLong, 2, device);
      TORCH_CHECK(hot_table->size(0) == batch, kWhat, ": hot_table ", hot_table->sizes(), " must have batch ", batch);
      args.hot_table = hot_table->data_ptr<int64_t>();
      args.max_hot_blocks = static_cast<int>(hot_table->size(1));
    }
    if (const at::Tensor* lse = optional(lse_handle)) {  // alone, for page summaries merged in afterwards
      expect(*lse, "lse", at::kFloat, 2, device);
      TORCH_CHECK(lse->size(0) == batch && lse->size(1) == heads, kWhat, ": lse ", lse->sizes(), " must be [B, H]");
      args.lse = lse->data_ptr<float>();
    }
    if (const at::Tensor* logits = optional(logits_handle)) {
      TORCH_CHECK(args.lse, kWhat, ": logits need the lse output");
      expect(*logits, "logits", at::kFloat, 3, device);
      TORCH_CHECK(logits->size(0) == batch && logits->size(1) == heads, kWhat, ": logits ", logits->sizes(), " must be [B, H, n]");
      args.logits = logits->data_ptr<float>();
      args.logit_stride = static_cast<int>(logits->size(2));
    }

    const int multiprocessors = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const int splits = alisa::paged_decode_attention_splits(static_cast<int>(batch), static_cast<int>(kv_heads), multiprocessors);
    const int64_t workspace_floats = alisa::paged_decode_attention_workspace(static_cast<int>(batch), static_cast<int>(heads),
                                                                             static_cast<int>(head_dim), splits);
    at::Tensor workspace = workspace_floats > 0 ? at::empty({workspace_floats}, out.options().dtype(at::kFloat)) : at::Tensor();
    args.out = out.data_ptr();
    args.query = query.data_ptr();
    args.query_stride = query.stride(0);
    args.block_table = block_table.data_ptr<int64_t>();
    args.lengths = lengths.data_ptr<int64_t>();
    args.batch = static_cast<int>(batch);
    args.kv_heads = static_cast<int>(kv_heads);
    args.groups = static_cast<int>(heads / kv_heads);
    args.head_dim = static_cast<int>(head_dim);
    args.max_blocks = static_cast<int>(block_table.size(1));
    args.block_size = block_size;
    args.scale = scale;
    args.splits = splits;
    args.workspace = workspace_floats > 0 ? workspace.data_ptr<float>() : nullptr;
    if (const char* error = alisa::launch_paged_decode_attention(args, at::cuda::getCurrentCUDAStream()))
      throw std::runtime_error(std::string(kWhat) + ": " + error);
  });
}

extern "C" int alisa_attention_weights(void* weights_handle, void* positions_handle, void* logits_handle, void* lse_handle,
                                       void* lengths_handle, void* segments_handle, void* listed_handle) {
  return alisa::guarded([&] {
    const at::Tensor& weights = *static_cast<at::Tensor*>(weights_handle);
    const at::Tensor& positions = *static_cast<at::Tensor*>(positions_handle);
    const at::Tensor& logits = *static_cast<at::Tensor*>(logits_handle);
    const at::Tensor& lse = *static_cast<at::Tensor*>(lse_handle);
    const at::Tensor& lengths = *static_cast<at::Tensor*>(lengths_handle);
    const auto device = logits.device();
    TORCH_CHECK(device.is_cuda(), "attention weights: tensors must be on a CUDA device");
    expect(logits, "logits", at::kFloat, 3, device);
    expect(lse, "lse", at::kFloat, 2, device);
    expect(weights, "weights", at::kFloat, 3, device);
    expect(positions, "positions", at::kLong, 3, device);
    expect(lengths, "lengths", at::kLong, 1, device);
    const int64_t batch = logits.size(0), heads = logits.size(1), stride = logits.size(2), kv_heads = weights.size(1);
    TORCH_CHECK(weights.size(0) == batch && weights.size(2) == stride && heads % kv_heads == 0 && positions.sizes() == weights.sizes(),
                "attention weights: weights/positions ", weights.sizes(), " must be [B, KvH, n] for logits ", logits.sizes());
    alisa::AttentionWeightsArgs args{};
    if (const at::Tensor* segments = optional(segments_handle)) {
      const at::Tensor& listed = *static_cast<at::Tensor*>(listed_handle);
      expect(*segments, "segments", at::kInt, 3, device);
      expect(listed, "listed positions", at::kInt, 3, device);
      args.segments = segments->data_ptr<int32_t>();
      args.listed = listed.data_ptr<int32_t>();
      args.selection_groups = static_cast<int>(segments->size(1));
      args.max_listed = static_cast<int>(listed.size(2));
    }
    args.weights = weights.data_ptr<float>();
    args.positions = positions.data_ptr<int64_t>();
    args.logits = logits.data_ptr<float>();
    args.lse = lse.data_ptr<float>();
    args.lengths = lengths.data_ptr<int64_t>();
    args.batch = static_cast<int>(batch);
    args.kv_heads = static_cast<int>(kv_heads);
    args.groups = static_cast<int>(heads / kv_heads);
    args.logit_stride = static_cast<int>(stride);
    if (const char* error = alisa::launch_attention_weights(args, at::cuda::getCurrentCUDAStream()))
      throw std::runtime_error(std::string("attention weights: ") + error);
  });
}

extern "C" int alisa_hot_set_update(void* out_segments_handle, void* out_listed_handle, void* counters_handle,
                                    void* hot_positions_handle, void* hot_table_handle, void* key_pool, void* value_pool,
                                    void* key_params, void* value_params, void* cpu_key_pool, void* cpu_value_pool,
                                    void* cpu_key_params, void* cpu_value_params, int64_t gpu_blocks,
                                    void* block_table_handle, void* lengths_handle, void* segments_handle,
                                    void* listed_handle, int block_size) {
  return alisa::guarded([&] {
    constexpr const char* what = "hot set update";
    const at::Tensor& keys = *static_cast<at::Tensor*>(key_pool);
    const auto device = keys.device();
    TORCH_CHECK(device.is_cuda(), what, ": the pool must be on a CUDA device, it is on ", device);
    const bool int8 = keys.scalar_type() == at::kByte;
    const int64_t kv_heads = keys.size(1), head_dim = keys.size(2);
    alisa::HotSetArgs args{};
    args.format = int8 ? alisa::KvFormat::Int8 : alisa::KvFormat::Native;
    args.row_bytes = static_cast<int>(head_dim * keys.element_size());
    args.gpu = pool_view(key_pool, value_pool, key_params, value_params, keys, int8, false, head_dim);
    if (cpu_key_pool != nullptr) args.cpu = pool_view(cpu_key_pool, cpu_value_pool, cpu_key_params, cpu_value_params, keys, int8, true, head_dim);
    args.gpu_blocks = cpu_key_pool != nullptr ? gpu_blocks : INT64_MAX;
    const auto tensor_of = [](void* handle) -> const at::Tensor& { return *static_cast<at::Tensor*>(handle); };
    const at::Tensor &out_segments = tensor_of(out_segments_handle), &out_listed = tensor_of(out_listed_handle), &counters = tensor_of(counters_handle);
    const at::Tensor &hot_positions = tensor_of(hot_positions_handle), &hot_table = tensor_of(hot_table_handle);
    const at::Tensor &block_table = tensor_of(block_table_handle), &lengths = tensor_of(lengths_handle);
    const at::Tensor &segments = tensor_of(segments_handle), &listed = tensor_of(listed_handle);
    expect(segments, "segments", at::kInt, 3, device);
    expect(listed, "listed", at::kInt, 3, device);
    expect(out_segments, "out_segments", at::kInt, 3, device);
    expect(out_listed, "out_listed", at::kInt, 3, device);
    expect(counters, "counters", at::kLong, 1, device);
    expect(hot_positions, "hot_positions", at::kInt, 2, device);
    expect(hot_table, "hot_table", at::kLong, 2, device);
    expect(block_table, "block_table", at::kLong, 2, device);
    expect(lengths, "lengths", at::kLong, 1, device);
    const int64_t batch = segments.size(0), groups = segments.size(1);
    TORCH_CHECK(segments.size(2) == 3 && listed.size(0) == batch && listed.size(1) == groups && out_segments.sizes() == segments.sizes() &&
                out_listed.size(0) == batch && out_listed.size(1) == groups && hot_table.size(0) == batch &&
                block_table.size(0) == batch && lengths.size(0) == batch && counters.size(0) == 4,
                what, ": shapes do not fit: segments ", segments.sizes(), ", listed ", listed.sizes(), ", out_listed ",
                out_listed.sizes(), ", hot_table ", hot_table.sizes(), ", block_table ", block_table.sizes(), ", counters ", counters.sizes());
    TORCH_CHECK(hot_positions.size(0) == keys.size(0) && hot_positions.size(1) == kv_heads, what, ": hot_positions ",
                hot_positions.sizes(), " must be [S, KvH] of the pool ", keys.sizes());
    args.block_table = block_table.data_ptr<int64_t>();
    args.max_blocks = static_cast<int>(block_table.size(1));
    args.hot_table = hot_table.data_ptr<int64_t>();
    args.max_hot_blocks = static_cast<int>(hot_table.size(1));
    args.hot_positions = hot_positions.data_ptr<int32_t>();
    args.lengths = lengths.data_ptr<int64_t>();
    args.segments = segments.data_ptr<int32_t>();
    args.listed = listed.data_ptr<int32_t>();
    args.max_listed = static_cast<int>(listed.size(2));
    args.out_segments = out_segments.data_ptr<int32_t>();
    args.out_listed = out_listed.data_ptr<int32_t>();
    args.max_out = static_cast<int>(out_listed.size(2));
    args.counters = counters.data_ptr<int64_t>();
    args.batch = static_cast<int>(batch);
    args.selection_groups = static_cast<int>(groups);
    args.kv_heads = static_cast<int>(kv_heads);
    args.block_size = block_size;
    if (const char* error = alisa::launch_hot_set_update(args, at::cuda::getCurrentCUDAStream()))
      throw std::runtime_error(std::string(what) + ": " + error);
  });
}
