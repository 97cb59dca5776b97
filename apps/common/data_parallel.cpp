#include "apps/common/data_parallel.h"

#include <chrono>
#include <set>

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

// The parameter of `names` that state entry `entry` belongs to, or null.
const std::string* owner_of(const std::vector<std::string>& names, const std::string& entry) {
  for (const std::string& n : names) {
    if (entry == n) return &n;
    // An optimizer slot: "<name>.<slot>" with no further dot.
    if (entry.size() > n.size() + 1 && entry.compare(0, n.size(), n) == 0 && entry[n.size()] == '.' &&
        entry.find('.', n.size() + 1) == std::string::npos)
      return &n;
  }
  return nullptr;
}

}  // namespace

io::NamedTensors gather_rank_local(dist::Communicator& comm, const std::vector<std::string>& names,
                                   io::NamedTensors state) {
  for (auto& [entry, t] : state)
    if (owner_of(names, entry)) t = comm.all_gather(t.contiguous()).to(t.device());
  return state;
}

io::NamedTensors slice_rank_local(const dist::Communicator& comm, const std::vector<std::string>& names,
                                  io::NamedTensors state) {
  const int64_t n = comm.size(), q = comm.rank();
  for (auto& [entry, t] : state) {
    if (!owner_of(names, entry)) continue;
    const int64_t rows = t.size(0);
    ENGINE_CHECK(rows % n == 0, "'" << entry << "' has " << rows << " rows, which do not split over " << n << " ranks");
    t = t.slice(0, q * rows / n, (q + 1) * rows / n).contiguous().clone();
  }
  return state;
}

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
  // MPI has non-blocking collectives; NCCL's would need their own CUDA stream and events
  // against the backward kernels (not built), so over NCCL the sums follow backward.
  overlap_ = config.dist.overlap && comm.size() > 1 && local_shards_ == 1 && comm.backend() == "mpi";
  if (overlap_) install_hooks();
}

DataParallel::~DataParallel() {
  if (overlap_)
    for (Variable& p : params_) p.set_grad_ready_hook({});
}

void DataParallel::install_hooks() {
  make_buckets();
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].set_grad_ready_hook([this, i] {
      if (in_backward_) grad_ready(i);
    });
}

void DataParallel::set_rank_local(const std::vector<std::string>& names) {
  if (names.empty()) return;
  ENGINE_CHECK(local_shards_ == 1, "DataParallel: rank-local parameters with ghost batch norm");
  std::set<std::string> local(names.begin(), names.end());
  if (overlap_)
    for (Variable& p : params_) p.set_grad_ready_hook({});
  params_.clear();
  for (auto& [name, p] : model_.named_parameters()) {
    (local.count(name) ? rank_local_ : params_).push_back(p);
    local.erase(name);
  }
  ENGINE_CHECK(local.empty(), "DataParallel: no parameter is named '" << *local.begin() << "'");
  if (overlap_) {
    buckets_.clear();
    install_hooks();
  }
}

// The rank-local parameters' gradients, weighted as the summed ones are. One with no
// gradient gets zeros, so that every rank's optimizer creates its state at the same step.
void DataParallel::weigh_rank_local() {
  for (Variable& p : rank_local_)
    p.set_grad(p.has_grad() ? ops::mul(p.grad(), shard_weight_) : Tensor::zeros(p.shape(), p.dtype(), p.device()));
}

// Buckets of consecutive parameters of one dtype, up to dist.bucket_mb, over the
// parameters in reverse order: backward completes the last layers' gradients first.
void DataParallel::make_buckets() {
  bucket_of_.assign(params_.size(), 0);
  double bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const Variable& p = params_[k];
    const bool fits = !buckets_.empty() && params_[buckets_.back().params.front()].dtype() == p.dtype() &&
                      bytes + double(p.data().nbytes()) <= bucket_bytes_;
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(k);
    buckets_.back().numel += p.numel();
    bytes += double(p.data().nbytes());
    bucket_of_[k] = buckets_.size() - 1;
  }
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
  if (overlap_) {
    ready_in_bucket_.assign(buckets_.size(), 0);
    param_ready_.assign(params_.size(), 0);
    next_launch_ = 0;
    flat_.assign(buckets_.size(), Tensor());
    pending_.clear();
    pending_.resize(buckets_.size());
  }
  start_buffers_.clear();
  if (local_shards_ > 1)
    for (Tensor* b : buffers_) start_buffers_.push_back(b->clone());
  grad_sum_.assign(params_.size(), Tensor());
  buffer_sum_.assign(buffers_.size(), Tensor());
  has_grad_.assign(params_.size(), 0.0);
}

void DataParallel::before_backward(int64_t rows, int64_t batch) {
  shard_weight_ = double(rows) / double(batch);
  in_backward_ = true;
}

// A parameter's gradient is complete: launch every bucket, in order, whose parameters
// all are, and let the sums already started progress.
void DataParallel::grad_ready(size_t i) {
  if (param_ready_[i]) return;
  param_ready_[i] = 1;
  ++ready_in_bucket_[bucket_of_[i]];
  while (next_launch_ < buckets_.size() && ready_in_bucket_[next_launch_] == buckets_[next_launch_].params.size())
    launch(next_launch_++);
  for (auto& p : pending_)
    if (p) p->test();
}

// The bucket's gradients, weighted by the shard's share of the batch (zeros for a
// parameter without one), copied into one flat tensor whose sum over the ranks starts.
void DataParallel::launch(size_t b) {
  const Bucket& bk = buckets_[b];
  const Variable& first = params_[bk.params.front()];
  Tensor flat = Tensor::empty({bk.numel}, first.dtype(), comm_.buffer_device());
  int64_t off = 0;
  for (size_t i : bk.params) {
    Variable& p = params_[i];
    Tensor part = flat.slice(0, off, off + p.numel());
    if (p.has_grad()) {
      part.copy_from(ops::mul(p.grad(), shard_weight_).contiguous().reshape({-1}).to(flat.device()));
      has_grad_[i] = 1;
    } else {
      part.copy_from(Tensor::zeros({p.numel()}, p.dtype(), flat.device()));
    }
    off += p.numel();
  }
  flat_[b] = flat;
  pending_[b] = comm_.start_all_reduce_sum(flat_[b]);
}

void DataParallel::end_shard(int64_t rows, int64_t batch) {
  if (overlap_) {
    // Parameters backward did not reach (an expert without tokens) join here, so that
    // every bucket is launched, in order, before the step ends.
    for (size_t i = 0; i < params_.size(); ++i) grad_ready(i);
    in_backward_ = false;
    for (Variable& p : params_) p.zero_grad();
    for (size_t j = 0; j < buffers_.size(); ++j) buffer_sum_[j] = buffers_[j]->clone();
    return;
  }
  in_backward_ = false;
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

// After the overlapped backward: which parameters have a gradient anywhere, then the
// bucket sums (started during backward) become the gradients.
void DataParallel::finish_overlapped() {
  auto t0 = std::chrono::steady_clock::now();
  Tensor has = Tensor::from_data(has_grad_.data(), {int64_t(has_grad_.size())});
  comm_.all_reduce_sum(has);
  has_grad_ = has.to_vector();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    pending_[b]->wait();
    int64_t off = 0;
    for (size_t i : buckets_[b].params) {
      Variable& p = params_[i];
      if (has_grad_[i] > 0)
        p.set_grad(flat_[b].slice(0, off, off + p.numel()).reshape(p.shape()).to(p.device()).clone());
      off += p.numel();
    }
  }
  pending_.clear();
  flat_.clear();
  std::vector<Tensor*> bufs;
  for (Tensor& b : buffer_sum_) bufs.push_back(&b);
  reduce_in_buckets(bufs);
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double inv = 1.0 / double(comm_.size());
  for (size_t j = 0; j < buffers_.size(); ++j) buffers_[j]->copy_from(ops::mul(buffer_sum_[j], inv));
  buffer_sum_.clear();
}

void DataParallel::finish_step() {
  weigh_rank_local();
  if (overlap_) return finish_overlapped();
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
