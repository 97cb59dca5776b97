#include "apps/common/data_parallel.h"

#include <chrono>

#include "engine/dist/sync_batchnorm.h"
#include "engine/io/config.h"
#include "engine/nn/layers.h"
#include "engine/ops/functional.h"

namespace engine::app {
namespace {

bool is_float(DType d) { return d == DType::f32 || d == DType::f64; }

// dist.sync_batchnorm: every BatchNorm2d of the model takes its training statistics
// over all ranks.
void synchronise_batchnorm(nn::Module& m, dist::Communicator& comm) {
  if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) {
    bn->training_forward = [bn, &comm](const Variable& x, const Variable& residual, bool relu, Tensor& rm, Tensor& rv) {
      return dist::sync_batchnorm2d(comm, x, residual, bn->weight, bn->bias, rm, rv, relu, bn->momentum, bn->eps);
    };
  }
  for (auto& [name, child] : m.named_children()) synchronise_batchnorm(*child, comm);
}

}  // namespace

DataParallel::DataParallel(const TrainConfig& config, dist::Communicator& comm, nn::Module& model)
    : comm_(comm), model_(model), bucket_bytes_(config.dist.bucket_mb * 1024.0 * 1024.0) {
  int ghost = int(config.dist.ghost_batchnorm);
  ENGINE_CONFIG_CHECK(ghost <= 1 || comm.size() == 1,
                      "config key 'dist.ghost_batchnorm' = " << ghost << " is for a run of one process, which it makes "
                                                             << "behave as that many ranks; this run has "
                                                             << comm.size() << " ranks: set it to 0");
  local_shards_ = ghost > 1 ? ghost : 1;
  int64_t shards = int64_t(comm.size()) * local_shards_;
  ENGINE_CONFIG_CHECK(
      shards == 1 || (config.training.batch_size % shards == 0 && config.training.batch_size / shards >= 2),
      "config key 'training.batch_size' = "
          << config.training.batch_size << " is the global batch, split into " << shards
          << (comm.size() > 1 ? " ranks" : " ghost batch norm shards")
          << ": it must be a multiple of that with at least 2 rows per shard (batch norm)");
  if (config.dist.sync_batchnorm && comm.size() > 1) synchronise_batchnorm(model, comm);
  params_ = model.parameters();
  for (auto& [name, t] : model.named_buffers())
    if (is_float(t->dtype())) buffers_.push_back(t);
}

std::pair<int64_t, int64_t> DataParallel::shard_rows(int64_t batch, int s) const {
  int64_t shards = int64_t(comm_.size()) * local_shards_, g = int64_t(comm_.rank()) * local_shards_ + s;
  return {batch * g / shards, batch * (g + 1) / shards};
}

void DataParallel::broadcast_model() {
  if (comm_.size() == 1) return;
  for (Variable& p : params_) comm_.broadcast(p.data(), 0);
  for (auto& [name, t] : model_.named_buffers()) comm_.broadcast(*t, 0);
}

void DataParallel::begin_step() {
  start_buffers_.clear();
  if (local_shards_ > 1)
    for (Tensor* b : buffers_) start_buffers_.push_back(b->clone());
  grad_sum_.assign(params_.size(), Tensor());
  buffer_sum_.assign(buffers_.size(), Tensor());
  has_grad_.assign(params_.size(), 0.0);
}

void DataParallel::end_shard(int64_t rows, int64_t batch) {
  double w = double(rows) / double(batch);
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i];
    if (!p.has_grad()) continue;
    Tensor g = ops::mul(p.grad(), w);
    grad_sum_[i] = grad_sum_[i].defined() ? ops::add(grad_sum_[i], g) : g;
    has_grad_[i] = 1;
    p.zero_grad();
  }
  for (size_t j = 0; j < buffers_.size(); ++j) {
    buffer_sum_[j] = buffer_sum_[j].defined() ? ops::add(buffer_sum_[j], *buffers_[j]) : buffers_[j]->clone();
    if (local_shards_ > 1) buffers_[j]->copy_from(start_buffers_[j]);
  }
}

void DataParallel::finish_step() {
  if (comm_.size() > 1) {
    auto t0 = std::chrono::steady_clock::now();
    // A parameter without a gradient here (an expert no token reached) takes part with
    // zeros; it gets a gradient when some rank has one.
    for (size_t i = 0; i < params_.size(); ++i)
      if (!grad_sum_[i].defined())
        grad_sum_[i] = Tensor::zeros(params_[i].shape(), params_[i].dtype(), params_[i].device());
    Tensor has = Tensor::from_data(has_grad_.data(), {int64_t(has_grad_.size())});
    comm_.all_reduce_sum(has);
    has_grad_ = has.to_vector();
    std::vector<Tensor*> grads, bufs;
    for (Tensor& g : grad_sum_) grads.push_back(&g);
    for (Tensor& b : buffer_sum_) bufs.push_back(&b);
    reduce_in_buckets(grads);
    reduce_in_buckets(bufs);
    comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has_grad_[i] > 0) params_[i].set_grad(grad_sum_[i]);
  }
  double inv = 1.0 / double(comm_.size() * local_shards_);
  for (size_t j = 0; j < buffers_.size(); ++j) buffers_[j]->copy_from(ops::mul(buffer_sum_[j], inv));
  grad_sum_.clear();
  buffer_sum_.clear();
}

double DataParallel::take_comm_seconds() {
  double s = comm_seconds_;
  comm_seconds_ = 0;
  return s;
}

// Consecutive tensors of one dtype, up to dist.bucket_mb together, are summed over the
// ranks as one flat tensor; the order is the parameters' (or buffers'), on every rank.
void DataParallel::reduce_in_buckets(std::vector<Tensor*>& tensors) {
  size_t i = 0;
  while (i < tensors.size()) {
    size_t j = i;
    double bytes = 0;
    std::vector<Tensor> flat;
    while (j < tensors.size() && tensors[j]->dtype() == tensors[i]->dtype() &&
           (j == i || bytes + double(tensors[j]->nbytes()) <= bucket_bytes_)) {
      bytes += double(tensors[j]->nbytes());
      flat.push_back(tensors[j]->contiguous().reshape({-1}));
      ++j;
    }
    Tensor bucket = flat.size() == 1 ? flat[0].clone() : ops::concat(flat, 0);
    comm_.all_reduce_sum(bucket);
    int64_t off = 0;
    for (size_t k = i; k < j; ++k) {
      int64_t n = tensors[k]->numel();
      *tensors[k] = bucket.slice(0, off, off + n).reshape(tensors[k]->shape()).clone();
      off += n;
    }
    i = j;
  }
}

}  // namespace engine::app
