// Parity of the text encoder with sentence-transformers: the embeddings of every text
// in tests/golden/minilm_embeddings.json (all-MiniLM-L6-v2, mean pooling over the
// attention mask, L2-normalised; written by tests/golden/make_minilm_golden.py) against
// ours on the CPU and on the GPU (the simulated one in the SIM build), in f32 and bf16.
// The model comes from $ENGINE_TEXT_ENCODER_DIR or build/text_encoder; without it the
// test fails, naming the fetch command.
// Measured: f32 max abs 2.5e-7 (CPU) and 3.2e-7 (simulated GPU), cosine 1 to 7 digits;
// bf16 max abs 1.6e-3 (CPU) and 1.4e-3 (simulated GPU), min cosine 0.99996. The bf16
// bounds (cosine >= 0.999, max abs <= 1e-2) leave a margin of about 6x.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/common/text_encoder.h"
#include "test_util.h"
#include "text_test_util.h"

using namespace engine;

namespace {

std::string model_dir() { return testing::text_encoder_dir_with("model.safetensors"); }

struct Golden {
  std::vector<std::string> texts;
  std::vector<std::vector<double>> embeddings;
};

const Golden& golden() {
  static const Golden g = [] {
    std::ifstream f(std::string(ENGINE_SOURCE_DIR) + "/tests/golden/minilm_embeddings.json");
    const nlohmann::json doc = nlohmann::json::parse(f);
    Golden out;
    for (const auto& c : doc.at("cases")) {
      out.texts.push_back(c.at("text").get<std::string>());
      out.embeddings.push_back(c.at("embedding").get<std::vector<double>>());
    }
    return out;
  }();
  return g;
}

struct Parity {
  double max_abs = 0, min_cos = 1;
};

// Encodes golden().texts[i] for i in `rows` and compares each with its reference.
Parity compare(Device device, DType precision, const std::vector<size_t>& rows) {
  app::TextEncoderOptions o;
  o.model_dir = model_dir();
  o.device = device;
  o.precision = precision;
  o.batch_size = 8;
  app::TextEncoder enc(o);
  std::vector<std::string> texts;
  for (size_t r : rows) texts.push_back(golden().texts[r]);
  const Tensor emb = enc.encode(texts);
  REQUIRE(emb.shape() == Shape{int64_t(rows.size()), 384});
  const std::vector<float> v = emb.to_vector_as<float>();
  Parity p;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& ref = golden().embeddings[rows[i]];
    REQUIRE(ref.size() == 384);
    double dot = 0, nr = 0, nv = 0;
    for (size_t d = 0; d < 384; ++d) {
      const double x = v[i * 384 + d];
      p.max_abs = std::max(p.max_abs, std::abs(x - ref[d]));
      dot += x * ref[d];
      nr += ref[d] * ref[d];
      nv += x * x;
    }
    const double cos = dot / std::sqrt(nr * nv);
    INFO("text " << rows[i] << ": " << golden().texts[rows[i]] << " -> cosine " << cos);
    CHECK(std::isfinite(cos));
    p.min_cos = std::min(p.min_cos, cos);
  }
  std::cout << "minilm parity " << device.str() << " " << dtype_name(precision) << " (" << rows.size()
            << " texts): max abs " << p.max_abs << ", min cosine " << std::setprecision(9) << p.min_cos << "\n";
  return p;
}

std::vector<size_t> all_rows() {
  std::vector<size_t> rows(golden().texts.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  return rows;
}

// The golden text of the most bytes (the 256-token one).
size_t longest_row() {
  size_t best = 0;
  for (size_t r = 1; r < golden().texts.size(); ++r)
    if (golden().texts[r].size() > golden().texts[best].size()) best = r;
  return best;
}

}  // namespace

TEST_CASE("minilm golden: f32 embeddings on the CPU match sentence-transformers", "[text][minilm]") {
  REQUIRE(golden().texts.size() >= 30);
  Parity p = compare(Device::cpu(), DType::f32, all_rows());
  CHECK(p.min_cos >= 0.99999);
  CHECK(p.max_abs <= 1e-4);
}

TEST_CASE("minilm golden: bf16 embeddings on the CPU stay close", "[text][minilm]") {
  Parity p = compare(Device::cpu(), DType::bf16, all_rows());
  CHECK(p.min_cos >= 0.999);
  CHECK(p.max_abs <= 1e-2);
}

// On the simulated GPU the cost is the padded batches: the one text of 256 tokens would pad
// its batch of 8 to 2048 tokens, so it runs alone (f32) or not at all (bf16).
TEST_CASE("minilm golden: f32 embeddings on the GPU match sentence-transformers", "[text][minilm][cuda]") {
  testing::require_cuda();
  const size_t longest = longest_row();
  std::vector<size_t> rows;
  for (size_t r : all_rows())
    if (r != longest) rows.push_back(r);
  for (const auto& subset : {rows, std::vector<size_t>{longest}}) {
    Parity p = compare(Device::cuda(), DType::f32, subset);
    CHECK(p.min_cos >= 0.99999);
    CHECK(p.max_abs <= 1e-4);
  }
}

TEST_CASE("minilm golden: bf16 embeddings on the GPU stay close", "[text][minilm][cuda]") {
  testing::require_cuda();
  std::vector<size_t> rows;
  for (size_t r : all_rows())
    if (r != longest_row()) rows.push_back(r);
  Parity p = compare(Device::cuda(), DType::bf16, rows);
  CHECK(p.min_cos >= 0.999);
  CHECK(p.max_abs <= 1e-2);
}
