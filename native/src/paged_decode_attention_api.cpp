// C ABI of the paged decode attention kernel: checks the TorchSharp tensors it is given, then launches on
// libtorch's current stream (so the launch is captured when a CUDA graph is being recorded).
#include "alisa_native.h"
#include "errors.h"
#include "paged_decode_attention.cuh"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

alisa::ElementType element_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return alisa::ElementType::Float32;
    case at::kHalf: return alisa::ElementType::Float16;
    case at::kBFloat16: return alisa::ElementType::BFloat16;
    default: TORCH_CHECK(false, "paged decode attention: the KV pool dtype must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
  return alisa::ElementType::Float32;  // not reached
}

void expect(const at::Tensor& t, const char* name, at::ScalarType type, int64_t dims, const at::Device& device) {
  TORCH_CHECK(t.device() == device, "paged decode attention: ", name, " is on ", t.device(), ", expected ", device);
  TORCH_CHECK(t.scalar_type() == type, "paged decode attention: ", name, " has dtype ", t.scalar_type(), ", expected ", type);
  TORCH_CHECK(t.dim() == dims, "paged decode attention: ", name, " has ", t.dim(), " dims, expected ", dims);
  TORCH_CHECK(t.is_contiguous(), "paged decode attention: ", name, " must be contiguous");
}

}  // namespace

extern "C" int alisa_paged_decode_attention(void* out_handle, void* query_handle, void* key_pool_handle,
                                            void* value_pool_handle, void* block_table_handle, void* lengths_handle,
                                            int block_size, float scale) {
  return alisa::guarded([&] {
    const at::Tensor& out = *static_cast<at::Tensor*>(out_handle);
    const at::Tensor& key_pool = *static_cast<at::Tensor*>(key_pool_handle);
    const at::Tensor& value_pool = *static_cast<at::Tensor*>(value_pool_handle);
    const at::Tensor& block_table = *static_cast<at::Tensor*>(block_table_handle);
    const at::Tensor& lengths = *static_cast<at::Tensor*>(lengths_handle);
    const auto device = key_pool.device();
    TORCH_CHECK(device.is_cuda(), "paged decode attention: the KV pool must be on a CUDA device, it is on ", device);
    const auto type = key_pool.scalar_type();
    element_type(key_pool);
    expect(key_pool, "key_pool", type, 3, device);
    expect(value_pool, "value_pool", type, 3, device);
    TORCH_CHECK(value_pool.sizes() == key_pool.sizes(), "paged decode attention: value_pool ", value_pool.sizes(),
                " differs from key_pool ", key_pool.sizes());
    expect(out, "out", type, 3, device);
    expect(block_table, "block_table", at::kLong, 2, device);
    expect(lengths, "lengths", at::kLong, 1, device);
    const int64_t batch = out.size(0), heads = out.size(1), head_dim = out.size(2);
    const int64_t kv_heads = key_pool.size(1);
    TORCH_CHECK(key_pool.size(2) == head_dim, "paged decode attention: KV head dim ", key_pool.size(2), " != query head dim ", head_dim);
    TORCH_CHECK(heads % kv_heads == 0, "paged decode attention: ", heads, " query heads do not split into ", kv_heads, " KV heads");
    TORCH_CHECK(block_table.size(0) == batch && lengths.size(0) == batch, "paged decode attention: block_table ",
                block_table.sizes(), " and lengths ", lengths.sizes(), " must have batch ", batch);
    TORCH_CHECK(block_size > 0 && key_pool.size(0) % block_size == 0, "paged decode attention: pool of ", key_pool.size(0),
                " slots is not a whole number of blocks of ", block_size);

    const at::Tensor& query_in = *static_cast<at::Tensor*>(query_handle);
    TORCH_CHECK(query_in.numel() == batch * heads * head_dim && query_in.scalar_type() == type && query_in.device() == device,
                "paged decode attention: query must hold [", batch, ", ", heads, ", ", head_dim, "] of ", type, " on ", device);
    at::Tensor query = query_in.reshape({batch, heads, head_dim}).contiguous();

    const int multiprocessors = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const int splits = alisa::paged_decode_attention_splits(static_cast<int>(batch), static_cast<int>(kv_heads), multiprocessors);
    const int64_t workspace_floats = alisa::paged_decode_attention_workspace(static_cast<int>(batch), static_cast<int>(heads),
                                                                             static_cast<int>(head_dim), splits);
    at::Tensor workspace = workspace_floats > 0 ? at::empty({workspace_floats}, key_pool.options().dtype(at::kFloat)) : at::Tensor();

    alisa::PagedDecodeAttentionArgs args{};
    args.type = element_type(key_pool);
    args.out = out.data_ptr();
    args.query = query.data_ptr();
    args.key_pool = key_pool.data_ptr();
    args.value_pool = value_pool.data_ptr();
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
      throw std::runtime_error(std::string("paged decode attention: ") + error);
  });
}
