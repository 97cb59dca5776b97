#pragma once
// Data parallel training (docs/DISTRIBUTED.md). Every rank reads the same seeded global
// batch and trains on its rows [r B/N, (r+1) B/N); after backward the gradients,
// weighted by each shard's share of the batch, are summed over the ranks in buckets in
// parameter order (the same order whatever the timing), and the batch norm running
// statistics (float buffers) are averaged, so every rank holds the same model.
//
// With several ranks (one shard each) and dist.overlap, the sums start during backward:
// the parameters are cut into the same buckets in reverse order (the order backward
// completes them), and each bucket's non-blocking all-reduce starts as soon as its last
// gradient is complete (Variable::set_grad_ready_hook), in bucket order on every rank;
// finish_step() waits for them. The buckets, and so the sums, do not depend on timing.
//
// Synchronised batch norm (dist.sync_batchnorm) takes the statistics over every rank's
// rows instead (engine/dist/sync_batchnorm.h): the run then equals one process on the
// whole batch.
//
// Ghost batch norm (dist.ghost_batchnorm = k, one process) runs the same arithmetic in
// one process: forward and backward per shard of k, each from the step's starting
// buffers, gradients and buffers combined as k ranks would. A 1-process ghost run
// therefore equals a k-rank run with per-rank batch norm.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/train_config.h"
#include "engine/dist/communicator.h"
#include "engine/io/safetensors.h"
#include "engine/nn/module.h"

namespace engine::app {

// Expert parallel checkpoints: the entries of a model or optimizer state that belong to
// one of `names` (the parameter itself, or its optimizer slot "<name>.<slot>") hold this
// rank's rows of the whole tensor, rank q of N rows [q R/N, (q+1) R/N).
// gather_rank_local concatenates every rank's along dimension 0 (a collective: every
// rank calls it with the same entries); slice_rank_local cuts this rank's rows out of
// whole ones.
io::NamedTensors gather_rank_local(dist::Communicator& comm, const std::vector<std::string>& names,
                                   io::NamedTensors state);
io::NamedTensors slice_rank_local(const dist::Communicator& comm, const std::vector<std::string>& names,
                                  io::NamedTensors state);

class DataParallel {
 public:
  DataParallel(const TrainConfig& config, dist::Communicator& comm, nn::Module& model);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Whether steps are split at all (several ranks, or ghost batch norm).
  bool active() const { return comm_.size() > 1 || local_shards_ > 1; }
  int ranks() const { return comm_.size(); }
  // Shards this process trains one after the other in a step (ghost batch norm: k; else 1).
  int local_shards() const { return local_shards_; }
  // Rows [begin, end) of a global batch of `batch` rows that local shard `s` takes.
  std::pair<int64_t, int64_t> shard_rows(int64_t batch, int s) const;

  // Rank 0's parameters and buffers on every rank.
  void broadcast_model();
  // Expert parallel: the named parameters each rank holds its own part of. They are left
  // out of the sums over the ranks; their gradients (the sum of every rank's losses'
  // through the all-to-all) are weighted by the shard's share of the batch alone, as
  // the summed ones are. Call after broadcast_model(), before the first step.
  void set_rank_local(const std::vector<std::string>& names);
  // Before the step's first shard: keeps the buffers to start every shard from.
  void begin_step();
  // Before a shard's backward: its rows of the batch (the weight of its gradients).
  void before_backward(int64_t rows, int64_t batch);
  // After a shard's backward: adds its gradients, weighted by rows / batch, and its
  // buffers to the step's sums; restores the starting buffers for the next shard.
  void end_shard(int64_t rows, int64_t batch);
  // After the last shard: the sums over ranks become the gradients and (averaged) the buffers.
  void finish_step();
  // Seconds spent after backward summing over the ranks (or waiting for the sums started
  // during backward) since the last call: the communication that computation did not hide.
  double take_comm_seconds();
  // Whether gradient sums start during backward (see above).
  bool overlaps() const { return overlap_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
  };
  void reduce_in_buckets(std::vector<Tensor*>& tensors);
  void make_buckets();
  void grad_ready(size_t i);
  void launch(size_t b);
  void finish_overlapped();
  void install_hooks();
  void weigh_rank_local();

  dist::Communicator& comm_;
  nn::Module& model_;
  int local_shards_ = 1;
  double bucket_bytes_ = 0;
  std::vector<Variable> params_;  // summed over the ranks
  std::vector<Variable> rank_local_;
  std::vector<Tensor*> buffers_;  // the float ones (running statistics)
  std::vector<Tensor> start_buffers_, buffer_sum_, grad_sum_;
  std::vector<double> has_grad_;
  double comm_seconds_ = 0;
  // Overlap: buckets in launch order, each parameter's bucket, the step's progress.
  bool overlap_ = false, in_backward_ = false;
  double shard_weight_ = 1;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<size_t> ready_in_bucket_;
  std::vector<char> param_ready_;
  size_t next_launch_ = 0;
  std::vector<Tensor> flat_;  // per bucket: the weighted gradients being summed
  std::vector<std::unique_ptr<dist::Communicator::Pending>> pending_;
};

}  // namespace engine::app
