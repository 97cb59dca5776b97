// BertModel (models/bert.h) on a tiny configuration: Hugging Face names, loading a
// checkpoint with a prefix and a pooler, and the errors for a config or a checkpoint that
// does not fit; the text encoder's own checks (apps/common/text_encoder.h).
#include <catch2/catch.hpp>
#include <cmath>

#include "apps/common/text_encoder.h"
#include "engine/core/generator.h"
#include "engine/io/safetensors.h"
#include "models/bert.h"
#include "test_util.h"
#include "text_test_util.h"

using namespace engine;

namespace {

const char* kTinyConfig = R"({"model_type": "bert", "hidden_act": "gelu", "vocab_size": 39, "hidden_size": 8,
 "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
 "type_vocab_size": 2, "layer_norm_eps": 1e-12})";

models::BertConfig tiny_config() {
  models::BertConfig c;
  c.vocab_size = 39;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  return c;
}

// A model folder: the tiny config, a checkpoint of `model` with `prefix` and a pooler,
// and the small test vocabulary (39 tokens).
void write_model_dir(const testing::ScratchDir& dir, models::BertModel& model, const std::string& prefix,
                     const std::string& config = kTinyConfig) {
  testing::write_text_file(dir.file("config.json"), config);
  io::NamedTensors tensors;
  for (auto& [n, t] : model.state_dict()) tensors.emplace_back(prefix + n, t);
  tensors.emplace_back(prefix + "pooler.dense.weight", Tensor::zeros({8, 8}));
  tensors.emplace_back(prefix + "embeddings.position_ids", Tensor::arange(16).reshape({1, 16}));
  io::save_safetensors(dir.file("model.safetensors"), tensors);
  std::string vocab;
  for (const auto& t : testing::small_vocab_tokens(
           {"hello", "world",     "un", "##aff", "##able", "cafe", "naive", "zurich", ",",   ".",   "!", "?",
            "'",     "-",         "$",  "«",     "»",      "日",   "本",    "a",      "##a", "##b", "s", "##s",
            "i",     "##stanbul", "x",  "y",     "z",      "w",    "v",     "u",      "t",   "r"}))
    vocab += t + "\n";
  testing::write_text_file(dir.file("vocab.txt"), vocab);
}

}  // namespace

TEST_CASE("BertModel: Hugging Face names, a prefixed checkpoint with a pooler loads", "[text][bert]") {
  manual_seed(7);
  models::BertModel model(tiny_config());
  std::set<std::string> names;
  for (auto& [n, t] : model.state_dict()) names.insert(n);
  for (const char* n :
       {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight", "encoder.layer.1.attention.output.dense.bias",
        "encoder.layer.1.attention.output.LayerNorm.weight", "encoder.layer.0.intermediate.dense.weight",
        "encoder.layer.0.output.dense.weight", "encoder.layer.1.output.LayerNorm.bias"})
    CHECK(names.count(n) == 1);
  CHECK(names.size() == 5 + 2 * 16);
  testing::ScratchDir dir;
  for (const std::string prefix : {"", "bert.", "0.auto_model."}) {
    INFO("prefix '" << prefix << "'");
    write_model_dir(dir, model, prefix);
    auto loaded = models::load_bert(dir.file(""));
    Tensor ids = Tensor::from_vector({2, 5, 6, 3, 2, 7, 3, 0}, {2, 4}, DType::i64);
    Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 1, 1, 0}, {2, 4}, DType::u8);
    model.eval();
    NoGradGuard ng;
    CHECK(testing::normalized_error(loaded->forward(ids, mask).data(), model.forward(ids, mask).data()) == 0);
  }
}

TEST_CASE("BertModel: a checkpoint or config that does not fit is an error naming file and key", "[text][bert]") {
  manual_seed(8);
  models::BertModel model(tiny_config());
  testing::ScratchDir dir;
  write_model_dir(dir, model, "bert.");
  const std::string path = dir.file("model.safetensors");
  io::SafetensorsData data = io::load_safetensors(path);
  auto rewrite = [&](const std::string& drop, const std::string& reshape) {
    io::NamedTensors t;
    for (const auto& n : data.order) {
      if (n == drop) continue;
      t.emplace_back(n, n == reshape ? Tensor::zeros({3}) : data.tensors.at(n));
    }
    io::save_safetensors(path, t);
  };
  rewrite("bert.encoder.layer.1.output.dense.weight", "");
  CHECK_THROWS_WITH(models::load_bert(dir.file("")),
                    Catch::Contains(path) && Catch::Contains("'bert.encoder.layer.1.output.dense.weight' is missing"));
  rewrite("", "bert.embeddings.LayerNorm.bias");
  CHECK_THROWS_WITH(models::load_bert(dir.file("")),
                    Catch::Contains("'bert.embeddings.LayerNorm.bias' is [3]") && Catch::Contains("expects [8]"));
  // A config of one layer finds a second one in the file.
  write_model_dir(
      dir, model, "",
      std::string(kTinyConfig)
          .replace(std::string(kTinyConfig).find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 1"));
  CHECK_THROWS_WITH(models::load_bert(dir.file("")),
                    Catch::Contains("'encoder.layer.1.") && Catch::Contains("no place in a BertModel of 1 layers"));
  testing::write_text_file(dir.file("config.json"), R"({"model_type": "gpt2", "hidden_act": "gelu"})");
  CHECK_THROWS_WITH(models::load_bert(dir.file("")), Catch::Contains("config.json") && Catch::Contains("\"gpt2\""));
  testing::write_text_file(dir.file("config.json"),
                           std::string(kTinyConfig).replace(std::string(kTinyConfig).find("\"gelu\""), 6, "\"relu\""));
  CHECK_THROWS_WITH(models::load_bert(dir.file("")), Catch::Contains("\"hidden_act\" is \"relu\""));
  testing::write_text_file(dir.file("config.json"), R"({"model_type": "bert", "hidden_act": "gelu"})");
  CHECK_THROWS_WITH(models::load_bert(dir.file("")), Catch::Contains("\"vocab_size\" is missing"));
  CHECK_THROWS_WITH(models::load_bert(dir.file("nowhere")), Catch::Contains("does not exist"));
}

TEST_CASE("TextEncoder: a vocabulary that does not fit the embedding is refused", "[text][bert]") {
  manual_seed(9);
  models::BertModel model(tiny_config());
  testing::ScratchDir dir;
  write_model_dir(dir, model, "");
  app::TextEncoderOptions o;
  o.model_dir = dir.file("");
  o.max_length = 16;
  app::TextEncoder enc(o);
  Tensor e = enc.encode({"hello world", "cafe", "hello world"});
  REQUIRE(e.shape() == Shape{3, 8});
  std::vector<float> v = e.to_vector_as<float>();
  double norm = 0;
  for (int d = 0; d < 8; ++d) norm += double(v[size_t(d)]) * v[size_t(d)];
  CHECK(std::sqrt(norm) == Approx(1.0).epsilon(1e-5));
  for (int d = 0; d < 8; ++d) CHECK(v[size_t(d)] == v[size_t(16 + d)]);
  CHECK_THROWS_WITH(enc.encode({}), Catch::Contains("no texts"));
  testing::write_text_file(dir.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
  CHECK_THROWS_WITH(app::TextEncoder(o), Catch::Contains("holds 6 tokens") && Catch::Contains("39 rows"));
  std::filesystem::remove(dir.file("model.safetensors"));
  CHECK_THROWS_WITH(app::TextEncoder(o),
                    Catch::Contains("model.safetensors is missing") && Catch::Contains("fetch_text_encoder.sh"));
}

TEST_CASE("BertModel: dropout in training only, the key mask keeps padding out", "[text][bert]") {
  manual_seed(10);
  models::BertModel model(tiny_config());
  Tensor ids = Tensor::from_vector({2, 5, 6, 3, 2, 7, 3, 0}, {2, 4}, DType::i64);
  Tensor mask = Tensor::from_vector({1, 1, 1, 1, 1, 1, 1, 0}, {2, 4}, DType::u8);
  NoGradGuard ng;
  model.eval();
  Tensor a = model.forward(ids, mask).data();
  CHECK(testing::normalized_error(model.forward(ids, mask).data(), a) == 0);
  // Another id at the padded position changes nothing of row 1's real tokens.
  Tensor ids2 = Tensor::from_vector({2, 5, 6, 3, 2, 7, 3, 9}, {2, 4}, DType::i64);
  Tensor b = model.forward(ids2, mask).data();
  CHECK(testing::normalized_error(b.slice(0, 1, 2).slice(1, 0, 3), a.slice(0, 1, 2).slice(1, 0, 3)) < 1e-6);
  model.train();
  Tensor t1 = model.forward(ids, mask).data(), t2 = model.forward(ids, mask).data();
  CHECK(testing::normalized_error(t1, a) > 1e-3);
  CHECK(testing::normalized_error(t2, t1) > 1e-3);
}
