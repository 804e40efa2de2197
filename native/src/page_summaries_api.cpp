// C ABI of the page summaries' kernels (page_sums_add.cu, summary_attention.cu): checks the TorchSharp tensors, then
// launches on libtorch's current stream (captured when a CUDA graph is being recorded).
#include "alisa_native.h"
#include "errors.h"
#include "page_summaries.cuh"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

const at::Tensor& tensor(void* handle) { return *static_cast<at::Tensor*>(handle); }

void check(const at::Tensor& t, const char* what, const char* name, at::ScalarType type, at::IntArrayRef sizes, const at::Device& device) {
  TORCH_CHECK(t.device() == device && t.scalar_type() == type && t.is_contiguous() && t.sizes() == sizes, what, ": ", name,
              " must be contiguous ", type, " ", sizes, " on ", device, ", got ", t.scalar_type(), " ", t.sizes(), " on ", t.device());
}

alisa::ElementType element_type(const at::Tensor& t, const char* what) {
  switch (t.scalar_type()) {
    case at::kFloat: return alisa::ElementType::Float32;
    case at::kHalf: return alisa::ElementType::Float16;
    case at::kBFloat16: return alisa::ElementType::BFloat16;
    default: TORCH_CHECK(false, what, ": rows must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
  return alisa::ElementType::Float32;  // not reached
}

// The GPU pool [S, KvH, D] (INT8: uint8 codes and fp16 parameters [S, KvH, 2]) and the sums [blocks, KvH, D] fp32.
struct Pool {
  alisa::KvFormat format;
  alisa::KvPoolView view;
  float* key_sums;
  float* value_sums;
  int64_t kv_heads, head_dim;
};

Pool pool_of(void* keys_h, void* values_h, void* key_params_h, void* value_params_h, void* key_sums_h, void* value_sums_h,
             int block_size, const char* what) {
  const at::Tensor &keys = tensor(keys_h), &values = tensor(values_h);
  TORCH_CHECK(keys.dim() == 3 && keys.is_cuda(), what, ": the pool must be [S, KvH, D] on a CUDA device, got ", keys.sizes(), " on ", keys.device());
  TORCH_CHECK(block_size > 0 && keys.size(0) % block_size == 0, what, ": a pool of ", keys.size(0), " slots is not whole blocks of ", block_size);
  check(keys, what, "key pool", keys.scalar_type(), keys.sizes(), keys.device());
  check(values, what, "value pool", keys.scalar_type(), keys.sizes(), keys.device());
  const bool int8 = keys.scalar_type() == at::kByte;
  Pool pool{int8 ? alisa::KvFormat::Int8 : alisa::KvFormat::Native, {keys.data_ptr(), values.data_ptr(), nullptr, nullptr},
            nullptr, nullptr, keys.size(1), keys.size(2)};
  if (int8) {
    const std::vector<int64_t> params{keys.size(0), keys.size(1), 2};
    check(tensor(key_params_h), what, "key params", at::kHalf, params, keys.device());
    check(tensor(value_params_h), what, "value params", at::kHalf, params, keys.device());
    pool.view.key_params = tensor(key_params_h).data_ptr();
    pool.view.value_params = tensor(value_params_h).data_ptr();
  }
  const std::vector<int64_t> sums{keys.size(0) / block_size, keys.size(1), keys.size(2)};
  check(tensor(key_sums_h), what, "key sums", at::kFloat, sums, keys.device());
  check(tensor(value_sums_h), what, "value sums", at::kFloat, sums, keys.device());
  pool.key_sums = tensor(key_sums_h).data_ptr<float>();
  pool.value_sums = tensor(value_sums_h).data_ptr<float>();
  return pool;
}

void launched(const char* error, const char* what) {
  if (error) throw std::runtime_error(std::string(what) + ": " + error);
}

}  // namespace

extern "C" int alisa_page_sums_add(void* key_sums, void* value_sums, void* key_pool, void* value_pool, void* key_params,
                                   void* value_params, void* slots_handle, void* rows_like, int block_size) {
  return alisa::guarded([&] {
    constexpr const char* what = "page_sums_add";
    const Pool pool = pool_of(key_pool, value_pool, key_params, value_params, key_sums, value_sums, block_size, what);
    const at::Tensor& slots = tensor(slots_handle);
    TORCH_CHECK(slots.dim() == 1, what, ": slots must be [B], got ", slots.sizes());
    check(slots, what, "slots", at::kLong, slots.sizes(), tensor(key_pool).device());
    alisa::PageSumsArgs args{};
    args.type = element_type(tensor(rows_like), what);
    args.format = pool.format;
    args.pool = pool.view;
    args.key_sums = pool.key_sums;
    args.value_sums = pool.value_sums;
    args.slots = slots.data_ptr<int64_t>();
    args.batch = static_cast<int>(slots.size(0));
    args.kv_heads = static_cast<int>(pool.kv_heads);
    args.head_dim = static_cast<int>(pool.head_dim);
    args.block_size = block_size;
    launched(alisa::launch_page_sums_add(args, at::cuda::getCurrentCUDAStream()), what);
  });
}

extern "C" int alisa_summary_attention(void* out_handle, void* lse_handle, void* query_handle, void* key_sums, void* value_sums,
                                       void* key_pool, void* value_pool, void* key_params, void* value_params,
                                       void* block_table_handle, void* lengths_handle, void* segments_handle,
                                       void* positions_handle, void* asks_handle, int block_size, float scale) {
  return alisa::guarded([&] {
    constexpr const char* what = "summary_attention";
    const Pool pool = pool_of(key_pool, value_pool, key_params, value_params, key_sums, value_sums, block_size, what);
    const at::Tensor& out = tensor(out_handle);
    const auto device = out.device();
    TORCH_CHECK(out.dim() == 3 && out.size(2) == pool.head_dim && out.size(1) % pool.kv_heads == 0, what, ": out must be [B, H, ",
                pool.head_dim, "] with H a multiple of ", pool.kv_heads, ", got ", out.sizes());
    const int64_t batch = out.size(0), heads = out.size(1);
    check(out, what, "out", out.scalar_type(), out.sizes(), device);
    check(tensor(query_handle), what, "query", out.scalar_type(), out.sizes(), device);
    check(tensor(lse_handle), what, "lse", at::kFloat, {batch, heads}, device);
    const at::Tensor &table = tensor(block_table_handle), &segments = tensor(segments_handle), &positions = tensor(positions_handle);
    TORCH_CHECK(table.dim() == 2 && segments.dim() == 3 && positions.dim() == 3, what, ": block table [B, M], segments [B, SG, 3] and positions [B, SG, K] expected");
    check(table, what, "block table", at::kLong, {batch, table.size(1)}, device);
    check(tensor(lengths_handle), what, "lengths", at::kLong, {batch}, device);
    check(segments, what, "segments", at::kInt, {batch, segments.size(1), 3}, device);
    check(positions, what, "positions", at::kInt, {batch, segments.size(1), positions.size(2)}, device);
    check(tensor(asks_handle), what, "asks", at::kByte, {batch}, device);
    TORCH_CHECK(segments.size(1) == 1 || segments.size(1) == pool.kv_heads, what, ": selection groups must be 1 or the KV heads");
    alisa::SummaryAttentionArgs args{};
    args.type = element_type(out, what);
    args.format = pool.format;
    args.out = out.data_ptr();
    args.lse = tensor(lse_handle).data_ptr<float>();
    args.query = tensor(query_handle).data_ptr();
    args.pool = pool.view;
    args.key_sums = pool.key_sums;
    args.value_sums = pool.value_sums;
    args.block_table = table.data_ptr<int64_t>();
    args.lengths = tensor(lengths_handle).data_ptr<int64_t>();
    args.segments = segments.data_ptr<int32_t>();
    args.positions = positions.data_ptr<int32_t>();
    args.asks = tensor(asks_handle).data_ptr<uint8_t>();
    args.selection_groups = static_cast<int>(segments.size(1));
    args.max_listed = static_cast<int>(positions.size(2));
    args.batch = static_cast<int>(batch);
    args.kv_heads = static_cast<int>(pool.kv_heads);
    args.groups = static_cast<int>(heads / pool.kv_heads);
    args.head_dim = static_cast<int>(pool.head_dim);
    args.max_blocks = static_cast<int>(table.size(1));
    args.block_size = block_size;
    args.scale = scale;
    launched(alisa::launch_summary_attention(args, at::cuda::getCurrentCUDAStream()), what);
  });
}
