// C ABI of the small fused layer kernels (rms_norm.cu, rotary.cu, silu_and_mul.cu, kv_write.cu, kv_copy_blocks.cu): checks the
// TorchSharp tensors, then launches on libtorch's current stream (captured when a CUDA graph is being recorded).
#include "alisa_native.h"
#include "elementwise.cuh"
#include "errors.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

const at::Tensor& tensor(void* handle) { return *static_cast<at::Tensor*>(handle); }

alisa::ElementType storage_type(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda(), what, ": tensors must be on a CUDA device, got ", t.device());
  switch (t.scalar_type()) {
    case at::kFloat: return alisa::ElementType::Float32;
    case at::kHalf: return alisa::ElementType::Float16;
    case at::kBFloat16: return alisa::ElementType::BFloat16;
    default: TORCH_CHECK(false, what, ": dtype must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
  return alisa::ElementType::Float32;  // not reached
}

void same(const at::Tensor& a, const at::Tensor& b, const char* what) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type() && a.device() == b.device(), what, ": dtype/device mismatch (",
              a.scalar_type(), " on ", a.device(), " vs ", b.scalar_type(), " on ", b.device(), ")");
}

void launched(const char* error, const char* what) {
  if (error) throw std::runtime_error(std::string(what) + ": " + error);
}

// Equal strides where they matter: a dim of size 1 is never stepped along, so its stride is free (a decode step's
// key and value are head views of the fused QKV projection with T = 1, whose T strides differ).
bool same_strides(const at::Tensor& a, const at::Tensor& b) {
  for (int64_t d = 0; d < a.dim(); d++)
    if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
  return true;
}

}  // namespace

extern "C" {

int alisa_rms_norm(void* out_handle, void* sum_handle, void* x_handle, void* delta_handle, void* weight_handle, float eps) {
  return alisa::guarded([&] {
    const auto &out = tensor(out_handle), &x = tensor(x_handle), &weight = tensor(weight_handle);
    const auto type = storage_type(x, "rms_norm");
    same(x, out, "rms_norm");
    same(x, weight, "rms_norm");
    const int64_t hidden = x.size(-1);
    TORCH_CHECK(x.is_contiguous() && out.is_contiguous() && weight.is_contiguous(), "rms_norm: tensors must be contiguous");
    TORCH_CHECK(weight.numel() == hidden && out.numel() == x.numel(), "rms_norm: weight ", weight.sizes(), " / out ",
                out.sizes(), " do not fit x ", x.sizes());
    TORCH_CHECK((sum_handle == nullptr) == (delta_handle == nullptr), "rms_norm: a residual add needs both delta and sum");
    void* sum = nullptr;
    const void* delta = nullptr;
    if (delta_handle != nullptr) {
      const auto &d = tensor(delta_handle), &s = tensor(sum_handle);
      same(x, d, "rms_norm");
      same(x, s, "rms_norm");
      TORCH_CHECK(d.is_contiguous() && s.is_contiguous() && d.numel() == x.numel() && s.numel() == x.numel(),
                  "rms_norm: delta ", d.sizes(), " and sum ", s.sizes(), " must be contiguous like x ", x.sizes());
      sum = s.data_ptr();
      delta = d.data_ptr();
    }
    launched(alisa::launch_rms_norm(type, out.data_ptr(), sum, x.data_ptr(), delta, weight.data_ptr(), x.numel() / hidden,
                                    static_cast<int>(hidden), eps, at::cuda::getCurrentCUDAStream()), "rms_norm");
  });
}

int alisa_rotary(void* x_handle, void* cos_handle, void* sin_handle) {
  return alisa::guarded([&] {
    const auto &x = tensor(x_handle), &cos = tensor(cos_handle), &sin = tensor(sin_handle);
    alisa::RotaryArgs args{};
    args.type = storage_type(x, "rotary");
    same(x, cos, "rotary");
    same(x, sin, "rotary");
    TORCH_CHECK(x.dim() == 4 && x.stride(3) == 1, "rotary: x must be [B, heads, T, D] with a contiguous last dim, got ",
                x.sizes(), " strides ", x.strides());
    args.batch = x.size(0); args.heads = x.size(1); args.tokens = x.size(2); args.head_dim = x.size(3);
    TORCH_CHECK(args.head_dim % 2 == 0, "rotary: head dim must be even");
    TORCH_CHECK(cos.is_contiguous() && sin.is_contiguous() && cos.numel() == args.batch * args.tokens * args.head_dim &&
                sin.numel() == cos.numel(), "rotary: cos/sin must be contiguous [B, T, D] for x ", x.sizes());
    args.x = x.data_ptr(); args.cos = cos.data_ptr(); args.sin = sin.data_ptr();
    args.stride_b = x.stride(0); args.stride_h = x.stride(1); args.stride_t = x.stride(2);
    launched(alisa::launch_rotary(args, at::cuda::getCurrentCUDAStream()), "rotary");
  });
}

int alisa_silu_and_mul(void* out_handle, void* gate_up_handle) {
  return alisa::guarded([&] {
    const auto &out = tensor(out_handle), &gate_up = tensor(gate_up_handle);
    const auto type = storage_type(gate_up, "silu_and_mul");
    same(out, gate_up, "silu_and_mul");
    const int64_t inner = gate_up.size(-1) / 2;
    TORCH_CHECK(gate_up.is_contiguous() && out.is_contiguous() && out.size(-1) == inner && out.numel() * 2 == gate_up.numel(),
                "silu_and_mul: gate_up ", gate_up.sizes(), " and out ", out.sizes(), " must be contiguous [.., 2I] and [.., I]");
    launched(alisa::launch_silu_and_mul(type, out.data_ptr(), gate_up.data_ptr(), gate_up.numel() / (2 * inner), inner,
                                        at::cuda::getCurrentCUDAStream()), "silu_and_mul");
  });
}

int alisa_kv_write(void* key_pool_handle, void* value_pool_handle, void* key_handle, void* value_handle, void* slots_handle) {
  return alisa::guarded([&] {
    const auto &key_pool = tensor(key_pool_handle), &value_pool = tensor(value_pool_handle);
    const auto &key = tensor(key_handle), &value = tensor(value_handle), &slots = tensor(slots_handle);
    alisa::KvWriteArgs args{};
    args.type = storage_type(key_pool, "kv_write");
    same(key_pool, value_pool, "kv_write");
    same(key_pool, key, "kv_write");
    same(key_pool, value, "kv_write");
    TORCH_CHECK(key_pool.is_contiguous() && value_pool.is_contiguous() && key_pool.dim() == 3 && value_pool.sizes() == key_pool.sizes(),
                "kv_write: pools must be contiguous [S, KvH, D] of one shape");
    TORCH_CHECK(key.dim() == 4 && key.sizes() == value.sizes() && same_strides(key, value) && key.stride(3) == 1,
                "kv_write: key/value must be [B, KvH, T, D] with equal strides and a contiguous last dim, got ", key.sizes(),
                " ", key.strides(), " and ", value.sizes(), " ", value.strides());
    args.batch = key.size(0); args.kv_heads = key.size(1); args.tokens = key.size(2); args.head_dim = key.size(3);
    TORCH_CHECK(key_pool.size(1) == args.kv_heads && key_pool.size(2) == args.head_dim, "kv_write: pool ", key_pool.sizes(),
                " does not hold rows of ", key.sizes());
    TORCH_CHECK(slots.scalar_type() == at::kLong && slots.is_contiguous() && slots.device() == key.device() &&
                slots.numel() == args.batch * args.tokens, "kv_write: slots must be contiguous int64 [B*T] on the pool's device");
    args.key_pool = key_pool.data_ptr(); args.value_pool = value_pool.data_ptr();
    args.key = key.data_ptr(); args.value = value.data_ptr(); args.slots = slots.data_ptr<int64_t>();
    args.stride_b = key.stride(0); args.stride_h = key.stride(1); args.stride_t = key.stride(2);
    launched(alisa::launch_kv_write(args, at::cuda::getCurrentCUDAStream()), "kv_write");
  });
}

int alisa_kv_write_int8(void* key_codes_handle, void* value_codes_handle, void* key_params_handle, void* value_params_handle,
                        void* key_handle, void* value_handle, void* slots_handle) {
  return alisa::guarded([&] {
    const auto &key_codes = tensor(key_codes_handle), &value_codes = tensor(value_codes_handle);
    const auto &key_params = tensor(key_params_handle), &value_params = tensor(value_params_handle);
    const auto &key = tensor(key_handle), &value = tensor(value_handle), &slots = tensor(slots_handle);
    alisa::KvWriteInt8Args args{};
    args.type = storage_type(key, "kv_write_int8");
    same(key, value, "kv_write_int8");
    TORCH_CHECK(key.dim() == 4 && key.sizes() == value.sizes() && same_strides(key, value) && key.stride(3) == 1,
                "kv_write_int8: key/value must be [B, KvH, T, D] with equal strides and a contiguous last dim, got ", key.sizes(),
                " ", key.strides(), " and ", value.sizes(), " ", value.strides());
    args.batch = key.size(0); args.kv_heads = key.size(1); args.tokens = key.size(2); args.head_dim = key.size(3);
    for (const at::Tensor* codes : {&key_codes, &value_codes})
      TORCH_CHECK(codes->scalar_type() == at::kByte && codes->is_contiguous() && codes->device() == key.device() && codes->dim() == 3 &&
                  codes->size(1) == args.kv_heads && codes->size(2) == args.head_dim && codes->sizes() == key_codes.sizes(),
                  "kv_write_int8: code pools must be contiguous uint8 [S, ", args.kv_heads, ", ", args.head_dim, "] on the key's device");
    for (const at::Tensor* params : {&key_params, &value_params})
      TORCH_CHECK(params->scalar_type() == at::kHalf && params->is_contiguous() && params->device() == key.device() &&
                  params->dim() == 3 && params->size(0) == key_codes.size(0) && params->size(1) == args.kv_heads && params->size(2) == 2,
                  "kv_write_int8: parameter pools must be contiguous fp16 [S, KvH, 2]");
    TORCH_CHECK(slots.scalar_type() == at::kLong && slots.is_contiguous() && slots.device() == key.device() &&
                slots.numel() == args.batch * args.tokens, "kv_write_int8: slots must be contiguous int64 [B*T] on the pool's device");
    args.key_codes = key_codes.data_ptr(); args.value_codes = value_codes.data_ptr();
    args.key_params = key_params.data_ptr(); args.value_params = value_params.data_ptr();
    args.key = key.data_ptr(); args.value = value.data_ptr(); args.slots = slots.data_ptr<int64_t>();
    args.stride_b = key.stride(0); args.stride_h = key.stride(1); args.stride_t = key.stride(2);
    launched(alisa::launch_kv_write_int8(args, at::cuda::getCurrentCUDAStream()), "kv_write_int8");
  });
}

}  // extern "C"

extern "C" int alisa_copy_blocks(void* target_handle, void* source_handle, void* target_blocks_handle, void* source_blocks_handle,
                                 int block_size) {
  return alisa::guarded([&] {
    constexpr const char* what = "copy_blocks";
    const at::Tensor &target = tensor(target_handle), &source = tensor(source_handle);
    const at::Tensor &target_blocks = tensor(target_blocks_handle), &source_blocks = tensor(source_blocks_handle);
    TORCH_CHECK(source.is_cuda(), what, ": the source must be on a CUDA device, got ", source.device());
    TORCH_CHECK(target.is_cuda() || target.is_pinned(), what, ": the target must be on the device or page-locked host memory");
    TORCH_CHECK(source.scalar_type() == target.scalar_type() && source.is_contiguous() && target.is_contiguous() &&
                source.dim() == target.dim() && source.sizes().slice(1).equals(target.sizes().slice(1)),
                what, ": source ", source.sizes(), " and target ", target.sizes(), " must be contiguous pools of one row shape and dtype");
    TORCH_CHECK(block_size > 0 && source.size(0) % block_size == 0 && target.size(0) % block_size == 0, what,
                ": pools must hold whole blocks of ", block_size);
    for (const at::Tensor* ids : {&target_blocks, &source_blocks})
      TORCH_CHECK(ids->scalar_type() == at::kLong && ids->is_contiguous() && ids->device() == source.device() && ids->dim() == 1 &&
                  ids->numel() == source_blocks.numel(), what, ": block ids must be int64 [n] on the source's device");
    void* to = target.data_ptr();
    if (!target.is_cuda()) alisa::check_cuda(cudaHostGetDevicePointer(&to, target.data_ptr(), 0), "mapping the CPU tier");
    const int64_t block_bytes = source.numel() / source.size(0) * source.element_size() * block_size;
    launched(alisa::launch_copy_blocks(to, source.data_ptr(), target_blocks.data_ptr<int64_t>(), source_blocks.data_ptr<int64_t>(),
                                       source_blocks.numel(), block_bytes, at::cuda::getCurrentCUDAStream()),
             what);
  });
}
