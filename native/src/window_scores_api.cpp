// C ABI of window_scores.cu: checks the TorchSharp tensors, then launches on libtorch's current stream (captured when
// a CUDA graph is being recorded).
#include "alisa_native.h"
#include "errors.h"
#include "select_top.cuh"
#include "window_scores.cuh"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

namespace {

const at::Tensor& tensor(void* handle) { return *static_cast<at::Tensor*>(handle); }

void check(const at::Tensor& t, at::ScalarType type, int64_t dims, const at::Tensor& like, const char* what, const char* name) {
  TORCH_CHECK(t.scalar_type() == type && t.is_contiguous() && t.device() == like.device() && t.dim() == dims, what, ": ", name,
              " must be contiguous ", type, " with ", dims, " dims on ", like.device(), ", got ", t.scalar_type(), " ",
              t.sizes(), " on ", t.device());
}

// The stores and the step's row inputs, shared by both launches.
alisa::WindowScoresArgs stores(void* history_handle, void* sums_handle, void* read_slots_handle, void* lengths_handle,
                               void* columns_handle, const char* what) {
  const auto &history = tensor(history_handle), &sums = tensor(sums_handle), &read_slots = tensor(read_slots_handle);
  const auto &lengths = tensor(lengths_handle), &columns = tensor(columns_handle);
  TORCH_CHECK(history.is_cuda(), what, ": tensors must be on a CUDA device, got ", history.device());
  TORCH_CHECK(history.scalar_type() == at::kFloat || history.scalar_type() == at::kHalf, what,
              ": history must be float32 or float16, got ", history.scalar_type());
  check(history, history.scalar_type(), 3, history, what, "history [G, R, S]");
  check(sums, at::kFloat, 2, history, what, "sums [G, S]");
  TORCH_CHECK(sums.size(0) == history.size(0) && sums.size(1) == history.size(2), what, ": sums ", sums.sizes(),
              " do not fit history ", history.sizes());
  check(read_slots, at::kLong, 2, history, what, "read_slots [B, L]");
  TORCH_CHECK(lengths.scalar_type() == at::kLong && lengths.is_contiguous() && lengths.numel() == read_slots.size(0) &&
              columns.scalar_type() == at::kLong && columns.is_contiguous() && columns.numel() == read_slots.size(0) &&
              lengths.device() == history.device() && columns.device() == history.device(),
              what, ": lengths and columns must be contiguous int64 [B] on the stores' device");
  alisa::WindowScoresArgs args{};
  args.history = history.data_ptr(); args.history_half = history.scalar_type() == at::kHalf;
  args.sums = sums.data_ptr<float>();
  args.groups = history.size(0); args.ring = history.size(1); args.slots = history.size(2);
  args.read_slots = read_slots.data_ptr<int64_t>(); args.lengths = lengths.data_ptr<int64_t>();
  args.columns = columns.data_ptr<int64_t>();
  args.batch = read_slots.size(0); args.key_length = read_slots.size(1);
  return args;
}

void launched(const char* error, const char* what) {
  if (error) throw std::runtime_error(std::string(what) + ": " + error);
}

// window_slide's arguments: the stores, the rows' leaving columns, and with segments a ranking made in the same pass.
alisa::WindowScoresArgs slide_args(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* leaving_handle,
                                   void* segments_handle, void* ranking_handle, const char* what) {
  auto args = stores(history, sums, read_slots, lengths, columns, what);
  const auto& leaving = tensor(leaving_handle);
  check(leaving, at::kLong, 2, tensor(history), what, "leaving [B, J]");
  TORCH_CHECK(leaving.size(0) == args.batch, what, ": leaving has ", leaving.size(0), " rows, the batch ", args.batch);
  args.leaving = leaving.data_ptr<int64_t>(); args.leaving_width = leaving.size(1);
  TORCH_CHECK((segments_handle == nullptr) == (ranking_handle == nullptr), what, ": a ranking needs its segments");
  if (ranking_handle != nullptr) {
    const auto &segments = tensor(segments_handle), &ranking = tensor(ranking_handle);
    check(segments, at::kInt, 3, tensor(history), what, "segments [B, G, 3]");
    check(ranking, at::kFloat, 3, tensor(history), what, "ranking [B, G, L]");
    TORCH_CHECK(segments.size(0) == args.batch && segments.size(1) == args.groups && segments.size(2) == 3 &&
                ranking.size(0) == args.batch && ranking.size(1) == args.groups && ranking.size(2) == args.key_length,
                what, ": segments ", segments.sizes(), " / ranking ", ranking.sizes(), " must be [", args.batch, ", ",
                args.groups, ", 3] / [", args.batch, ", ", args.groups, ", ", args.key_length,
                "] (one selection group per score group; window_ranking ranks the others)");
    args.segments = segments.data_ptr<int32_t>(); args.selection_groups = args.groups; args.ranking = ranking.data_ptr<float>();
  }
  return args;
}

}  // namespace

extern "C" {

int alisa_window_slide(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* leaving_handle,
                       void* segments_handle, void* ranking_handle) {
  return alisa::guarded([&] {
    const auto args = slide_args(history, sums, read_slots, lengths, columns, leaving_handle, segments_handle, ranking_handle, "window_slide");
    launched(alisa::launch_window_slide(args, at::cuda::getCurrentCUDAStream()), "window_slide");
  });
}

int alisa_window_slide_select(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* leaving_handle,
                              void* segments_handle, void* ranking_handle, void* listed_handle) {
  return alisa::guarded([&] {
    const auto args = slide_args(history, sums, read_slots, lengths, columns, leaving_handle, segments_handle, ranking_handle,
                                 "window_slide_select");
    TORCH_CHECK(args.ranking != nullptr, "window_slide_select: needs the segments and the ranking");
    const auto& listed = tensor(listed_handle);
    check(listed, at::kInt, 3, tensor(history), "window_slide_select", "listed [B, G, k]");
    TORCH_CHECK(listed.size(0) == args.batch && listed.size(1) == args.groups && listed.size(2) >= 1 && listed.size(2) <= args.key_length,
                "window_slide_select: listed ", listed.sizes(), " must be [", args.batch, ", ", args.groups, ", k] with 1 <= k <= ",
                args.key_length);
    launched(alisa::launch_window_slide_select(args, listed.data_ptr<int32_t>(), listed.size(2), at::cuda::getCurrentCUDAStream()),
             "window_slide_select");
  });
}

int alisa_window_record(void* history, void* sums, void* read_slots, void* lengths, void* columns, void* logits_handle,
                        void* lse_handle, void* segments_handle, void* listed_handle, int kv_heads) {
  return alisa::guarded([&] {
    auto args = stores(history, sums, read_slots, lengths, columns, "window_record");
    const auto &logits = tensor(logits_handle), &lse = tensor(lse_handle);
    const auto &segments = tensor(segments_handle), &listed = tensor(listed_handle);
    check(logits, at::kFloat, 3, tensor(history), "window_record", "logits [B, H, n]");
    check(lse, at::kFloat, 2, tensor(history), "window_record", "lse [B, H]");
    check(segments, at::kInt, 3, tensor(history), "window_record", "segments [B, SG, 3]");
    check(listed, at::kInt, 3, tensor(history), "window_record", "listed [B, SG, k]");
    const int64_t heads = logits.size(1), selection_groups = segments.size(1);
    TORCH_CHECK(logits.size(0) == args.batch && lse.size(0) == args.batch && lse.size(1) == heads, "window_record: logits ",
                logits.sizes(), " / lse ", lse.sizes(), " must be [", args.batch, ", H, n] / [", args.batch, ", H]");
    TORCH_CHECK(segments.size(0) == args.batch && segments.size(2) == 3 && listed.size(0) == args.batch &&
                listed.size(1) == selection_groups && (selection_groups == 1 || selection_groups == kv_heads) &&
                kv_heads > 0 && heads % kv_heads == 0 && (args.groups == 1 || args.groups == kv_heads),
                "window_record: segments ", segments.sizes(), " / listed ", listed.sizes(), " do not fit ", args.batch,
                " rows, ", heads, " heads over ", kv_heads, " KV heads and ", args.groups, " score groups");
    TORCH_CHECK(args.groups > 1 || selection_groups == 1,
                "window_record: one score group per layer needs one selection per layer (its heads attend the same positions)");
    args.logits = logits.data_ptr<float>(); args.lse = lse.data_ptr<float>(); args.entries = logits.size(2);
    args.segments = segments.data_ptr<int32_t>(); args.listed = listed.data_ptr<int32_t>();
    args.selection_groups = selection_groups; args.max_listed = listed.size(2);
    args.kv_heads = kv_heads; args.query_groups = heads / kv_heads;
    launched(alisa::launch_window_record(args, at::cuda::getCurrentCUDAStream()), "window_record");
  });
}

int alisa_window_ranking(void* ranking_handle, void* sums_handle, void* read_slots_handle, void* segments_handle) {
  return alisa::guarded([&] {
    const auto &ranking = tensor(ranking_handle), &sums = tensor(sums_handle), &read_slots = tensor(read_slots_handle);
    const auto& segments = tensor(segments_handle);
    TORCH_CHECK(sums.is_cuda(), "window_ranking: tensors must be on a CUDA device, got ", sums.device());
    check(sums, at::kFloat, 2, sums, "window_ranking", "sums [G, S]");
    check(read_slots, at::kLong, 2, sums, "window_ranking", "read_slots [B, L]");
    check(segments, at::kInt, 3, sums, "window_ranking", "segments [B, SG, 3]");
    check(ranking, at::kFloat, 3, sums, "window_ranking", "ranking [B, SG, L]");
    const int64_t batch = read_slots.size(0), length = read_slots.size(1), groups = segments.size(1);
    TORCH_CHECK(segments.size(0) == batch && segments.size(2) == 3 && (groups == 1 || groups == sums.size(0)) &&
                ranking.size(0) == batch && ranking.size(1) == groups && ranking.size(2) == length,
                "window_ranking: segments ", segments.sizes(), " / ranking ", ranking.sizes(), " do not fit read_slots ",
                read_slots.sizes(), " and ", sums.size(0), " score groups");
    alisa::WindowScoresArgs args{};
    args.sums = sums.data_ptr<float>(); args.groups = sums.size(0); args.slots = sums.size(1);
    args.read_slots = read_slots.data_ptr<int64_t>(); args.batch = batch; args.key_length = length;
    args.segments = segments.data_ptr<int32_t>(); args.selection_groups = groups; args.ranking = ranking.data_ptr<float>();
    launched(alisa::launch_window_ranking(args, at::cuda::getCurrentCUDAStream()), "window_ranking");
  });
}

int alisa_select_top(void* listed_handle, void* ranking_handle, void* segments_handle) {
  return alisa::guarded([&] {
    const auto &listed = tensor(listed_handle), &ranking = tensor(ranking_handle), &segments = tensor(segments_handle);
    TORCH_CHECK(ranking.is_cuda(), "select_top: tensors must be on a CUDA device, got ", ranking.device());
    check(ranking, at::kFloat, 3, ranking, "select_top", "ranking [B, SG, L]");
    check(listed, at::kInt, 3, ranking, "select_top", "listed [B, SG, k]");
    check(segments, at::kInt, 3, ranking, "select_top", "segments [B, SG, 3]");
    TORCH_CHECK(listed.size(0) == ranking.size(0) && listed.size(1) == ranking.size(1) && listed.size(2) <= ranking.size(2) &&
                segments.size(0) == ranking.size(0) && segments.size(1) == ranking.size(1) && segments.size(2) == 3,
                "select_top: listed ", listed.sizes(), " / segments ", segments.sizes(), " do not fit ranking ", ranking.sizes(),
                " (k <= L)");
    launched(alisa::launch_select_top(listed.data_ptr<int32_t>(), ranking.data_ptr<float>(), segments.data_ptr<int32_t>(),
                                      ranking.size(0) * ranking.size(1), ranking.size(2), listed.size(2),
                                      at::cuda::getCurrentCUDAStream()), "select_top");
  });
}

}  // extern "C"
