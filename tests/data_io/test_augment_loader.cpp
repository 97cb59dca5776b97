#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "data/augment.h"
#include "data/loader.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;
using Catch::Matchers::Contains;

namespace {

// n records of C x H x W with pixel values derived from (record, position) and
// label = record % classes.
Dataset synthetic(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes = 10) {
  Dataset d;
  d.name = "synthetic";
  d.images = Tensor::empty({n, c, h, w}, DType::u8);
  d.labels = Tensor::empty({n}, DType::i64);
  uint8_t* p = d.images.data<uint8_t>();
  for (int64_t i = 0; i < n * c * h * w; ++i) p[i] = uint8_t(1 + (i * 13 + i / 97) % 254);  // never 0
  for (int64_t i = 0; i < n; ++i) d.labels.data<int64_t>()[i] = i % classes;
  d.num_classes = classes;
  return d;
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

std::vector<Batch> all_batches(Loader& l) {
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

std::vector<int64_t> indices_of(const std::vector<Batch>& bs) {
  std::vector<int64_t> out;
  for (const Batch& b : bs) {
    std::vector<int64_t> v = b.indices.to_vector_as<int64_t>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

TEST_CASE("augment: no augmentation is plain normalisation", "[data]") {
  Dataset d = synthetic(3, 3, 5, 4);
  Normalization norm{{0.5f, 0.25f, 0.1f}, {0.2f, 0.5f, 1.0f}};
  Tensor out = make_batch_images(d, {2, 0}, AugmentOptions{}, norm, 1, 0);
  REQUIRE(out.shape() == Shape{2, 3, 5, 4});
  const uint8_t* src = d.images.data<uint8_t>();
  const float* o = out.data<float>();
  for (int64_t k = 0; k < 2; ++k) {
    int64_t rec = k == 0 ? 2 : 0;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 20; ++i) {
        double want = (src[rec * 60 + c * 20 + i] / 255.0 - norm.mean[size_t(c)]) / norm.std[size_t(c)];
        REQUIRE(std::abs(o[k * 60 + c * 20 + i] - want) < 1e-5);
      }
  }
  CHECK_THROWS_WITH(make_batch_images(d, {0}, AugmentOptions{}, Normalization{{0.1f, 0.2f}, {}}, 0, 0),
                    Contains("mean has 2 values") && Contains("3 channels"));
  CHECK_THROWS_WITH(make_batch_images(d, {3}, AugmentOptions{}, Normalization{}, 0, 0), Contains("index 3"));
}

TEST_CASE("augment: crop, flip and cutout are deterministic and well formed", "[data]") {
  const int64_t H = 8, W = 8, pad = 2, cut = 3;
  Dataset d = synthetic(64, 1, H, W);
  AugmentOptions opt;
  opt.crop_padding = pad;
  opt.horizontal_flip = true;
  std::vector<int64_t> idx(64);
  for (int64_t i = 0; i < 64; ++i) idx[size_t(i)] = i;
  Tensor a = make_batch_images(d, idx, opt, Normalization{}, 7, 3);
  Tensor b = make_batch_images(d, idx, opt, Normalization{}, 7, 3, /*num_threads=*/2);
  CHECK(same(a, b));
  CHECK_FALSE(same(a, make_batch_images(d, idx, opt, Normalization{}, 7, 4)));
  CHECK_FALSE(same(a, make_batch_images(d, idx, opt, Normalization{}, 8, 3)));
  // An image's augmentation depends on its dataset index, not its place in the batch.
  Tensor one = make_batch_images(d, {17}, opt, Normalization{}, 7, 3);
  CHECK(same(one.select(0, 0), a.select(0, 17)));

  // Without normalisation values lie in [0, 1]; each output is the source shifted by
  // the drawn offset (mirrored when flipped), black where it leaves the image.
  const float* o = a.data<float>();
  const uint8_t* s = d.images.data<uint8_t>();
  int flips = 0;
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (int64_t i = 0; i < 64; ++i) {
    AugmentDraw dr = draw_augment(opt, H, W, 7, 3, i);
    REQUIRE(dr.crop_y >= 0);
    REQUIRE(dr.crop_y <= 2 * pad);
    REQUIRE(dr.crop_x >= 0);
    REQUIRE(dr.crop_x <= 2 * pad);
    flips += dr.flip;
    offsets.insert({dr.crop_y, dr.crop_x});
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        int64_t sy = y + dr.crop_y - pad, sx = (dr.flip ? W - 1 - x : x) + dr.crop_x - pad;
        float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? s[i * H * W + sy * W + sx] / 255.0f : 0.0f;
        REQUIRE(o[i * H * W + y * W + x] == Approx(want).margin(1e-6));
      }
  }
  CHECK(flips > 16);
  CHECK(flips < 48);
  CHECK(offsets.size() > 10);

  // Cutout zeroes a clipped cutxcut square around the drawn centre, nothing else.
  AugmentOptions co;
  co.cutout_size = cut;
  Tensor c = make_batch_images(d, idx, co, Normalization{}, 5, 0);
  const float* cp = c.data<float>();
  for (int64_t i = 0; i < 64; ++i) {
    AugmentDraw dr = draw_augment(co, H, W, 5, 0, i);
    REQUIRE(dr.cutout_y >= 0);
    REQUIRE(dr.cutout_y < H);
    int zeros = 0, expect = 0;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        bool in = y >= dr.cutout_y - cut / 2 && y < dr.cutout_y - cut / 2 + cut && x >= dr.cutout_x - cut / 2 &&
                  x < dr.cutout_x - cut / 2 + cut;
        expect += in;
        float v = cp[i * H * W + y * W + x];
        zeros += v == 0.0f;
        if (!in) REQUIRE(v == Approx(s[i * H * W + y * W + x] / 255.0f).margin(1e-6));
      }
    CHECK(zeros == expect);
  }
}

TEST_CASE("dataset: subset, gather, seeded train/validation split", "[data]") {
  Dataset d = synthetic(50, 1, 2, 2, 5);
  Dataset s = subset(d, 10, 20);
  CHECK(s.size() == 10);
  CHECK(s.labels.to_vector()[0] == 0);
  CHECK(s.images.data<uint8_t>()[0] == d.images.data<uint8_t>()[40]);
  CHECK_THROWS_WITH(subset(d, 10, 51), Contains("[10, 51)"));

  auto [train, val] = train_val_split(d, 12, 3);
  CHECK(train.size() == 38);
  CHECK(val.size() == 12);
  auto [train2, val2] = train_val_split(d, 12, 3);
  CHECK(same(val.images, val2.images));
  auto [train3, val3] = train_val_split(d, 12, 4);
  CHECK_FALSE(same(val.images, val3.images));
  // Together the parts hold every record once: compare the multisets of first pixels.
  std::multiset<int> all, parts;
  for (int64_t i = 0; i < 50; ++i)
    all.insert(d.images.data<uint8_t>()[i * 4] * 1000 + d.images.data<uint8_t>()[i * 4 + 1]);
  for (const Dataset* p : {&train, &val})
    for (int64_t i = 0; i < p->size(); ++i)
      parts.insert(p->images.data<uint8_t>()[i * 4] * 1000 + p->images.data<uint8_t>()[i * 4 + 1]);
  CHECK(all == parts);
  CHECK_NOTHROW(validate(train));

  std::vector<int64_t> perm = random_permutation(1000, 9);
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[size_t(i)] == i);
  CHECK(perm == random_permutation(1000, 9));
  CHECK(perm != random_permutation(1000, 10));
}

TEST_CASE("loader: every index once per epoch, seeded orders, drop_last", "[data]") {
  Dataset d = synthetic(103, 3, 4, 4);
  LoaderOptions o;
  o.batch_size = 10;
  o.seed = 42;
  o.augment.crop_padding = 1;
  o.augment.horizontal_flip = true;
  Loader l(d, o);
  CHECK(l.size() == 11);
  std::vector<Batch> e0 = all_batches(l);
  REQUIRE(e0.size() == 11);
  CHECK(e0.back().size() == 3);
  CHECK(e0[0].images.shape() == Shape{10, 3, 4, 4});
  CHECK(e0[0].images.dtype() == DType::f32);
  std::vector<int64_t> i0 = indices_of(e0);
  std::vector<int64_t> sorted = i0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) REQUIRE(sorted[size_t(i)] == i);
  for (const Batch& b : e0) {
    std::vector<int64_t> idx = b.indices.to_vector_as<int64_t>(), lab = b.labels.to_vector_as<int64_t>();
    for (size_t k = 0; k < idx.size(); ++k) REQUIRE(lab[k] == idx[k] % 10);
  }
  Batch extra;
  CHECK_FALSE(l.next(extra));

  l.set_epoch(1);
  std::vector<int64_t> i1 = indices_of(all_batches(l));
  CHECK(i1 != i0);
  l.set_epoch(0);
  std::vector<Batch> again = all_batches(l);
  CHECK(indices_of(again) == i0);
  for (size_t k = 0; k < again.size(); ++k) CHECK(same(again[k].images, e0[k].images));

  Loader same_seed(d, o);
  CHECK(indices_of(all_batches(same_seed)) == i0);
  LoaderOptions other = o;
  other.seed = 43;
  Loader other_seed(d, other);
  CHECK(indices_of(all_batches(other_seed)) != i0);

  LoaderOptions dl = o;
  dl.drop_last = true;
  Loader dropping(d, dl);
  CHECK(dropping.size() == 10);
  std::vector<Batch> bs = all_batches(dropping);
  CHECK(bs.size() == 10);
  for (const Batch& b : bs) CHECK(b.size() == 10);

  LoaderOptions seq = o;
  seq.shuffle = false;
  Loader ordered(d, seq);
  std::vector<int64_t> is = indices_of(all_batches(ordered));
  for (int64_t i = 0; i < 103; ++i) REQUIRE(is[size_t(i)] == i);
}

TEST_CASE("loader: prefetch on and off give identical batches, resume mid-epoch", "[data]") {
  Dataset d = synthetic(77, 1, 6, 6);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 5;
  o.augment.crop_padding = 2;
  o.augment.horizontal_flip = true;
  o.augment.cutout_size = 2;
  o.normalization = Normalization{{0.3f}, {0.4f}};
  LoaderOptions sync = o;
  sync.prefetch = false;
  Loader a(d, o), b(d, sync);
  for (int64_t epoch : {0, 1, 2}) {
    a.set_epoch(epoch);
    b.set_epoch(epoch);
    std::vector<Batch> x = all_batches(a), y = all_batches(b);
    REQUIRE(x.size() == y.size());
    for (size_t k = 0; k < x.size(); ++k) {
      CHECK(x[k].epoch == epoch);
      CHECK(x[k].index == int64_t(k));
      CHECK(same(x[k].images, y[k].images));
      CHECK(same(x[k].labels, y[k].labels));
      CHECK(same(x[k].indices, y[k].indices));
    }
  }
  // Starting epoch 1 at batch 4 gives that epoch's batches 4, 5, ...
  a.set_epoch(1);
  std::vector<Batch> full = all_batches(a);
  a.set_epoch(1, 4);
  CHECK(a.position() == 4);
  std::vector<Batch> tail = all_batches(a);
  REQUIRE(tail.size() == full.size() - 4);
  for (size_t k = 0; k < tail.size(); ++k) CHECK(same(tail[k].images, full[k + 4].images));
  // set_epoch while a batch is being prepared, and destruction with one pending.
  a.set_epoch(2);
  a.set_epoch(0);
  Batch first;
  REQUIRE(a.next(first));
  b.set_epoch(0);
  Batch bfirst;
  REQUIRE(b.next(bfirst));
  CHECK(same(first.images, bfirst.images));
  CHECK_THROWS_WITH(a.set_epoch(0, 100), Contains("first batch 100"));
}

TEST_CASE("loader: an error while assembling a batch reaches next()", "[data]") {
  Dataset d = synthetic(40, 1, 2, 2);
  for (bool prefetch : {true, false}) {
    LoaderOptions o;
    o.batch_size = 10;
    o.prefetch = prefetch;
    o.transform = [](Batch& b) {
      if (b.index == 2) throw std::runtime_error("bad batch two");
    };
    Loader l(d, o);
    Batch b;
    CHECK(l.next(b));
    CHECK(l.next(b));
    CHECK_THROWS_WITH(l.next(b), Contains("bad batch two"));
    CHECK_THROWS_WITH(l.next(b), Contains("bad batch two"));
    l.set_epoch(1);
    CHECK(l.next(b));
    CHECK(b.index == 0);
  }
  LoaderOptions bad;
  bad.batch_size = 0;
  CHECK_THROWS_WITH(Loader(d, bad), Contains("batch_size"));
}
