#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "engine/ops/functional.h"

namespace engine::data {
namespace {

constexpr uint64_t kShuffleTag = 0x73687566666c65ull;  // "shuffle"

}  // namespace

Loader::Loader(const Dataset& dataset, LoaderOptions options) : data_(dataset), opt_(std::move(options)) {
  validate(data_);
  // Batches index records directly; a strided dataset would be copied per batch.
  if (!data_.images.is_contiguous()) data_.images = data_.images.contiguous();
  if (!data_.labels.is_contiguous()) data_.labels = data_.labels.contiguous();
  ENGINE_CHECK(opt_.batch_size >= 1,
               "loader for '" << data_.name << "': batch_size must be >= 1, got " << opt_.batch_size);
  ENGINE_CHECK(opt_.num_threads >= 1,
               "loader for '" << data_.name << "': num_threads must be >= 1, got " << opt_.num_threads);
  ENGINE_CHECK(opt_.augment.crop_padding >= 0 && opt_.augment.cutout_size >= 0,
               "loader for '" << data_.name << "': crop_padding and cutout_size must be >= 0");
  check_normalization(opt_.normalization, data_.channels());
  const int64_t n = data_.size(), b = opt_.batch_size;
  batches_ = opt_.drop_last ? n / b : (n + b - 1) / b;
  pinned_ = opt_.device.is_cuda() && pinned_memory_available();
  order_ = std::make_shared<const std::vector<int64_t>>(epoch_order(0));
  if (opt_.prefetch) worker_ = std::thread([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  if (opt_.shuffle) return random_permutation(data_.size(), derive_seed(opt_.seed, kShuffleTag, uint64_t(epoch)));
  std::vector<int64_t> order(static_cast<size_t>(data_.size()));
  std::iota(order.begin(), order.end(), int64_t(0));
  return order;
}

void Loader::set_epoch(int64_t epoch, int64_t first_batch) {
  ENGINE_CHECK(epoch >= 0, "loader for '" << data_.name << "': negative epoch " << epoch);
  ENGINE_CHECK(first_batch >= 0 && first_batch <= batches_,
               "loader for '" << data_.name << "': first batch " << first_batch << " outside [0, " << batches_ << "]");
  auto order = std::make_shared<const std::vector<int64_t>>(epoch_order(epoch));
  {
    std::lock_guard<std::mutex> lk(mu_);
    epoch_ = epoch;
    order_ = std::move(order);
    cursor_ = first_batch;
    has_slot_ = false;
    slot_ = Batch{};
    error_ = nullptr;
    ++generation_;
  }
  cv_.notify_all();
}

int64_t Loader::epoch() const {
  std::lock_guard<std::mutex> lk(mu_);
  return epoch_;
}

int64_t Loader::position() const {
  std::lock_guard<std::mutex> lk(mu_);
  return cursor_;
}

Batch Loader::produce(const std::vector<int64_t>& order, int64_t epoch, int64_t index) const {
  const int64_t n = int64_t(order.size());
  const int64_t begin = index * opt_.batch_size, end = std::min(begin + opt_.batch_size, n);
  std::vector<int64_t> idx(order.begin() + begin, order.begin() + end);
  Batch b;
  b.epoch = epoch;
  b.index = index;
  const int64_t B = int64_t(idx.size());
  auto host = [&](const Shape& s, DType t) { return pinned_ ? Tensor::empty_pinned(s, t) : Tensor::empty(s, t); };
  b.images = host({B, data_.channels(), data_.height(), data_.width()}, DType::f32);
  make_batch_images_into(b.images, data_, idx, opt_.augment, opt_.normalization, opt_.seed, epoch, opt_.num_threads);
  b.indices = host({B}, DType::i64);
  std::copy(idx.begin(), idx.end(), b.indices.data<int64_t>());
  b.labels = host({B}, DType::i64);
  Tensor labels = data_.labels.is_contiguous() ? data_.labels : data_.labels.contiguous();
  const int64_t* src = labels.data<int64_t>();
  int64_t* dst = b.labels.data<int64_t>();
  for (size_t i = 0; i < idx.size(); ++i) dst[i] = src[idx[i]];
  if (opt_.transform) opt_.transform(b);
  if (pinned_) {
    // Asynchronous from pinned memory; the staging buffers return to the pinned cache
    // when these tensors die and are reused only once the copies are done.
    b.images = b.images.to(opt_.device);
    b.labels = b.labels.to(opt_.device);
    b.indices = b.indices.to(opt_.device);
  }
  return b;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || (!has_slot_ && !error_ && cursor_ < batches_); });
    if (stop_) return;
    const std::shared_ptr<const std::vector<int64_t>> order = order_;
    const int64_t epoch = epoch_, index = cursor_;
    const uint64_t generation = generation_;
    lk.unlock();
    Batch b;
    std::exception_ptr err;
    try {
      b = produce(*order, epoch, index);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    if (generation != generation_) continue;  // set_epoch() moved on meanwhile
    if (err) {
      error_ = err;
    } else {
      slot_ = std::move(b);
      has_slot_ = true;
    }
    cv_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  if (!opt_.prefetch) {
    std::shared_ptr<const std::vector<int64_t>> order;
    int64_t epoch, index;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (error_) std::rethrow_exception(error_);
      if (cursor_ >= batches_) return false;
      order = order_;
      epoch = epoch_;
      index = cursor_;
    }
    try {
      out = produce(*order, epoch, index);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      error_ = std::current_exception();
      throw;
    }
    std::lock_guard<std::mutex> lk(mu_);
    ++cursor_;
  } else {
    std::unique_lock<std::mutex> lk(mu_);
    if (error_) std::rethrow_exception(error_);
    if (cursor_ >= batches_) return false;
    cv_.wait(lk, [&] { return has_slot_ || error_ != nullptr; });
    if (error_) std::rethrow_exception(error_);
    out = std::move(slot_);
    slot_ = Batch{};
    has_slot_ = false;
    ++cursor_;
    lk.unlock();
    cv_.notify_all();
  }
  if (!opt_.device.is_cpu() && !pinned_) {
    out.images = out.images.to(opt_.device);
    out.labels = out.labels.to(opt_.device);
    out.indices = out.indices.to(opt_.device);
  }
  return true;
}

DeviceResidentLoader::DeviceResidentLoader(const Dataset& dataset, LoaderOptions options)
    : name_(dataset.name), opt_(std::move(options)) {
  validate(dataset);
  ENGINE_CHECK(opt_.batch_size >= 1,
               "device-resident loader for '" << name_ << "': batch_size must be >= 1, got " << opt_.batch_size);
  ENGINE_CHECK(opt_.augment.crop_padding >= 0 && opt_.augment.cutout_size >= 0,
               "device-resident loader for '" << name_ << "': crop_padding and cutout_size must be >= 0");
  check_normalization(opt_.normalization, dataset.channels());
  n_ = dataset.size();
  batches_ = opt_.drop_last ? n_ / opt_.batch_size : (n_ + opt_.batch_size - 1) / opt_.batch_size;
  images_ = dataset.images.contiguous().to(opt_.device);
  // index_select takes floating tensors; class ids are exact in f32.
  labels_ = dataset.labels.to(DType::f32).to(opt_.device);
  params_ = augment_params(opt_.augment, opt_.normalization, dataset.channels(), dataset.height(), dataset.width(),
                           opt_.seed, 0);
  set_epoch(0);
}

void DeviceResidentLoader::set_epoch(int64_t epoch, int64_t first_batch) {
  ENGINE_CHECK(epoch >= 0, "device-resident loader for '" << name_ << "': negative epoch " << epoch);
  ENGINE_CHECK(first_batch >= 0 && first_batch <= batches_, "device-resident loader for '"
                                                                << name_ << "': first batch " << first_batch
                                                                << " outside [0, " << batches_ << "]");
  std::vector<int64_t> order(static_cast<size_t>(n_));
  if (opt_.shuffle) {
    order = random_permutation(n_, derive_seed(opt_.seed, kShuffleTag, uint64_t(epoch)));
  } else {
    std::iota(order.begin(), order.end(), int64_t(0));
  }
  order_ = Tensor::from_data(order.data(), {n_}, opt_.device);
  epoch_ = epoch;
  cursor_ = first_batch;
  params_.key = augment_key(opt_.seed, epoch);
}

bool DeviceResidentLoader::next(Batch& out) {
  if (cursor_ >= batches_) return false;
  const int64_t begin = cursor_ * opt_.batch_size, end = std::min(begin + opt_.batch_size, n_);
  Tensor idx = order_.slice(0, begin, end);
  out = Batch{};
  out.epoch = epoch_;
  out.index = cursor_;
  out.images = ops::augment_images(images_, idx, params_);
  out.labels = ops::index_select(labels_, 0, idx).to(DType::i64);
  out.indices = idx;
  ++cursor_;
  return true;
}

}  // namespace engine::data
