#pragma once
// Loader: per-epoch shuffling, batching, augmentation and normalisation of a Dataset,
// optionally one batch ahead on a background thread.
//
//   Loader loader(train_set, opts);
//   for (int64_t e = 0; e < epochs; ++e) {
//     loader.set_epoch(e);
//     Batch b;
//     while (loader.next(b)) { ... }
//   }
//
// Determinism: the order of epoch e is a pure function of (seed, e) and each image's
// augmentation of (seed, e, dataset index), so prefetching on or off, and a run
// resumed with set_epoch(e, first_batch), give bit-identical batches.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/device.h"
#include "data/augment.h"
#include "data/dataset.h"

namespace engine::data {

struct Batch {
  Tensor images;   // f32 [B, C, H, W], normalised
  Tensor labels;   // i64 [B]
  Tensor indices;  // i64 [B], the records' indices in the dataset
  int64_t epoch = 0;
  int64_t index = 0;  // batch number within the epoch

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;  // drop the final partial batch
  AugmentOptions augment;  // leave default (off) for evaluation
  Normalization normalization;
  bool prefetch = true;  // assemble the next batch on a background thread
  int num_threads = 1;   // OpenMP threads for augmentation (within the producing thread)
  // Batches are assembled on the CPU and handed out on this device. For a CUDA device
  // with pinned memory available (pinned_memory_available()) a batch is assembled in
  // pinned staging memory and its copy is started on the device's copy stream by the
  // producing thread (the prefetch worker: the copy of batch i+1 is under way while
  // the caller runs step i); the compute stream waits for it. Otherwise the batch is
  // copied in next(), on the calling thread.
  Device device = Device::cpu();
  // Optional extra step on each assembled batch, run on the producing thread (the
  // worker when prefetching); an exception from it reaches the caller of next().
  std::function<void(Batch&)> transform;
};

// What the training loop reads batches from.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void set_epoch(int64_t epoch, int64_t first_batch = 0) = 0;
  virtual bool next(Batch& out) = 0;
  virtual int64_t size() const = 0;  // batches per epoch
};

class Loader : public BatchSource {
 public:
  Loader(const Dataset& dataset, LoaderOptions options);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts epoch `epoch` at batch `first_batch` (for resuming mid-epoch). Discards any
  // batch prepared for the previous position. The loader starts at epoch 0, batch 0.
  void set_epoch(int64_t epoch, int64_t first_batch = 0) override;
  int64_t epoch() const;
  // Batches handed out so far in the current epoch.
  int64_t position() const;
  // Batches per epoch.
  int64_t size() const override { return batches_; }

  // The next batch of the current epoch; false when the epoch is exhausted. Rethrows
  // an exception raised while the batch was assembled (it stays raised until the
  // next set_epoch()).
  bool next(Batch& out) override;

  // The record order of an epoch (identity when not shuffling).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  const Dataset& dataset() const { return data_; }
  const LoaderOptions& options() const { return opt_; }
  // True when batches are staged in pinned memory and copied asynchronously.
  bool pinned_staging() const { return pinned_; }

 private:
  Batch produce(const std::vector<int64_t>& order, int64_t epoch, int64_t index) const;
  void worker_loop();

  Dataset data_;
  LoaderOptions opt_;
  int64_t batches_ = 0;
  bool pinned_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const std::vector<int64_t>> order_;  // replaced, never mutated, by set_epoch
  int64_t epoch_ = 0;
  int64_t cursor_ = 0;       // the next batch to hand out
  uint64_t generation_ = 0;  // bumped by set_epoch so that stale work is dropped
  bool has_slot_ = false;    // slot_ holds batch cursor_
  Batch slot_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

// The whole u8 dataset copied once to options.device; each batch is cut, augmented and
// normalised there by ops::augment_images, so a step costs no host work and no
// host-to-device copy of images. Same order and augmentations as a Loader with the
// same options (its batches equal the Loader's; on the CPU they are bit-identical).
// Ignores prefetch, num_threads and transform; the batch's tensors are on the device.
class DeviceResidentLoader : public BatchSource {
 public:
  DeviceResidentLoader(const Dataset& dataset, LoaderOptions options);
  void set_epoch(int64_t epoch, int64_t first_batch = 0) override;
  bool next(Batch& out) override;
  int64_t size() const override { return batches_; }
  int64_t position() const { return cursor_; }

 private:
  std::string name_;
  LoaderOptions opt_;
  Tensor images_, labels_;  // on the device; labels as f32
  Tensor order_;            // i64 [N] on the device: the epoch's record order
  int64_t n_ = 0, batches_ = 0, epoch_ = 0, cursor_ = 0;
  uint64_t shuffle_seed_ = 0;
  kernels::AugmentParams params_;
};

}  // namespace engine::data
