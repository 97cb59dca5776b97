#include "models/bert.h"

#include <filesystem>
#include <map>
#include <set>

#include "engine/io/atomic_file.h"
#include "engine/io/json.h"
#include "engine/io/safetensors.h"

namespace engine::models {

namespace {

int64_t json_int(const nlohmann::json& doc, const std::string& path, const char* key, int64_t lo, int64_t hi) {
  ENGINE_CHECK(doc.contains(key), path << ": \"" << key << "\" is missing (a BERT config.json has it)");
  const auto& v = doc.at(key);
  ENGINE_CHECK(v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi,
               path << ": \"" << key << "\" must be an integer in [" << lo << ", " << hi << "], got " << v.dump());
  return v.get<int64_t>();
}

double json_number(const nlohmann::json& doc, const std::string& path, const char* key, double fallback) {
  if (!doc.contains(key)) return fallback;
  const auto& v = doc.at(key);
  ENGINE_CHECK(v.is_number(), path << ": \"" << key << "\" must be a number, got " << v.dump());
  return v.get<double>();
}

// The value of a string key, or `fallback` when absent.
std::string json_string(const nlohmann::json& doc, const std::string& path, const char* key,
                        const std::string& fallback) {
  if (!doc.contains(key)) return fallback;
  const auto& v = doc.at(key);
  ENGINE_CHECK(v.is_string(), path << ": \"" << key << "\" must be a string, got " << v.dump());
  return v.get<std::string>();
}

}  // namespace

BertConfig BertConfig::from_json_file(const std::string& path) {
  ENGINE_CHECK(std::filesystem::is_regular_file(path), "BERT config " << path << " does not exist");
  io::JsonParse parsed = io::parse_json(io::read_file(path));
  ENGINE_CHECK(parsed.ok, path << ": " << parsed.error);
  const nlohmann::json& doc = parsed.value;
  ENGINE_CHECK(doc.is_object(), path << ": expected a JSON object, got " << doc.type_name());
  const std::string type = json_string(doc, path, "model_type", "bert");
  ENGINE_CHECK(type == "bert",
               path << ": \"model_type\" is \"" << type << "\"; only BERT models (\"bert\") are supported");
  const std::string act = json_string(doc, path, "hidden_act", "");
  ENGINE_CHECK(act == "gelu",
               path << ": \"hidden_act\" is \"" << act << "\"; only \"gelu\" (the exact, erf form) is supported");
  const std::string pos = json_string(doc, path, "position_embedding_type", "absolute");
  ENGINE_CHECK(pos == "absolute",
               path << ": \"position_embedding_type\" is \"" << pos << "\"; only \"absolute\" is supported");
  BertConfig c;
  c.vocab_size = json_int(doc, path, "vocab_size", 1, int64_t(1) << 24);
  c.hidden_size = json_int(doc, path, "hidden_size", 1, 65536);
  c.num_hidden_layers = json_int(doc, path, "num_hidden_layers", 1, 1024);
  c.num_attention_heads = json_int(doc, path, "num_attention_heads", 1, 1024);
  c.intermediate_size = json_int(doc, path, "intermediate_size", 1, 1 << 20);
  c.max_position_embeddings = json_int(doc, path, "max_position_embeddings", 1, 1 << 20);
  c.type_vocab_size = json_int(doc, path, "type_vocab_size", 1, 1024);
  c.layer_norm_eps = json_number(doc, path, "layer_norm_eps", 1e-12);
  c.hidden_dropout_prob = json_number(doc, path, "hidden_dropout_prob", 0.1);
  try {
    c.validate();
  } catch (const Error& e) {
    ENGINE_CHECK(false, path << ": " << e.what());
  }
  return c;
}

void BertConfig::validate() const {
  ENGINE_CHECK(hidden_size % num_attention_heads == 0,
               "hidden_size " << hidden_size << " is not a multiple of num_attention_heads " << num_attention_heads);
  ENGINE_CHECK(layer_norm_eps > 0, "layer_norm_eps must be positive, got " << layer_norm_eps);
  ENGINE_CHECK(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1,
               "hidden_dropout_prob must be in [0, 1), got " << hidden_dropout_prob);
}

BertEmbeddings::BertEmbeddings(const BertConfig& c) {
  word = register_module("word_embeddings", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size));
  position =
      register_module("position_embeddings", std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size));
  token_type =
      register_module("token_type_embeddings", std::make_shared<nn::Embedding>(c.type_vocab_size, c.hidden_size));
  norm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.hidden_dropout_prob));
}

Variable BertEmbeddings::embed(const Tensor& ids, const Tensor& token_types) {
  const int64_t B = ids.size(0), L = ids.size(1);
  Tensor positions = Tensor::arange(L, DType::i64, ids.device());
  Tensor types = token_types.defined() ? token_types : Tensor::zeros({B, L}, DType::i64, ids.device());
  // [B, L, H] + [L, H] broadcast over the batch.
  Variable sum = ag::add(ag::add(word->lookup(ids), token_type->lookup(types)), position->lookup(positions));
  return dropout->forward(norm->forward(sum));
}

BertModel::BertModel(const BertConfig& c) : config(c) {
  c.validate();
  embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(c));
  nn::TransformerEncoderLayerOptions o;
  o.embed_dim = c.hidden_size;
  o.num_heads = c.num_attention_heads;
  o.ffn_dim = c.intermediate_size;
  o.layer_norm_eps = c.layer_norm_eps;
  o.dropout = c.hidden_dropout_prob;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers.push_back(
        register_module("encoder.layer." + std::to_string(i), std::make_shared<nn::TransformerEncoderLayer>(o)));
}

void BertModel::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 2 && x.dtype() == DType::i64, "BertModel: expected i64 token ids [B, L], got "
                                                            << dtype_name(x.dtype()) << " " << shape_str(x.shape()));
}

// Range checks of the ids on the host: an id past the table would read another row.
static void check_ids(const Tensor& ids, int64_t bound, const char* what) {
  std::vector<int64_t> v = ids.to(Device::cpu()).contiguous().to_vector_as<int64_t>();
  for (size_t i = 0; i < v.size(); ++i)
    ENGINE_CHECK(v[i] >= 0 && v[i] < bound,
                 "BertModel: " << what << " " << v[i] << " at element " << i << " is outside [0, " << bound << ")");
}

Variable BertModel::forward(const Tensor& ids, const Tensor& attention_mask, const Tensor& token_types) {
  check_input(Variable(ids));
  const int64_t B = ids.size(0), L = ids.size(1);
  ENGINE_CHECK(L >= 1 && L <= config.max_position_embeddings,
               "BertModel: sequences of " << L << " tokens; this model takes 1 to " << config.max_position_embeddings);
  ENGINE_CHECK(
      !attention_mask.defined() || (attention_mask.dtype() == DType::u8 && attention_mask.shape() == Shape{B, L}),
      "BertModel: attention_mask must be u8 [" << B << ", " << L << "]");
  ENGINE_CHECK(!token_types.defined() || (token_types.dtype() == DType::i64 && token_types.shape() == Shape{B, L}),
               "BertModel: token_types must be i64 [" << B << ", " << L << "]");
  check_ids(ids, config.vocab_size, "token id");
  if (token_types.defined()) check_ids(token_types, config.type_vocab_size, "token type");
  Variable h = embeddings->embed(ids, token_types);
  for (auto& layer : layers) h = layer->forward(h, attention_mask);
  return h;
}

namespace {

const char* const kAnchor = "embeddings.word_embeddings.weight";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The prefix in front of every BertModel name of the file.
std::string find_prefix(const io::SafetensorsData& file, const std::string& path) {
  const std::string anchor = kAnchor;
  for (const auto& name : file.order)
    if (name.size() >= anchor.size() && name.compare(name.size() - anchor.size(), anchor.size(), anchor) == 0)
      return name.substr(0, name.size() - anchor.size());
  ENGINE_CHECK(
      false, path << ": no tensor named '" << anchor << "' (with or without a prefix): this is not a BERT checkpoint");
  return "";
}

bool ignored(const std::string& name) { return starts_with(name, "pooler.") || name == "embeddings.position_ids"; }

}  // namespace

void load_bert_weights(BertModel& model, const std::string& path) {
  ENGINE_CHECK(std::filesystem::is_regular_file(path), "BERT weights " << path << " do not exist");
  io::SafetensorsData file = io::load_safetensors(path);
  const std::string prefix = find_prefix(file, path);
  std::map<std::string, Tensor> expected;
  for (auto& [name, t] : model.state_dict()) expected[name] = t;
  std::vector<std::pair<std::string, Tensor>> state;
  for (const auto& key : file.order) {
    if (!starts_with(key, prefix)) continue;
    const std::string name = key.substr(prefix.size());
    if (ignored(name)) continue;
    auto it = expected.find(name);
    ENGINE_CHECK(it != expected.end(), path << ": tensor '" << key << "' has no place in a BertModel of "
                                            << model.config.num_hidden_layers << " layers (config.json)");
    const Tensor& t = file.tensors.at(key);
    ENGINE_CHECK(t.shape() == it->second.shape(), path << ": tensor '" << key << "' is " << shape_str(t.shape())
                                                       << ", config.json's model expects "
                                                       << shape_str(it->second.shape()));
    ENGINE_CHECK(is_floating(t.dtype()),
                 path << ": tensor '" << key << "' is " << dtype_name(t.dtype()) << ", expected a floating dtype");
    state.emplace_back(name, t);
  }
  std::set<std::string> present;
  for (const auto& [name, t] : state) present.insert(name);
  for (const auto& [name, t] : expected)
    ENGINE_CHECK(present.count(name), path << ": tensor '" << prefix + name << "' is missing");
  nn::LoadOptions options;
  options.convert_dtype = true;
  model.load_state_dict(state, true, options);
}

std::shared_ptr<BertModel> load_bert(const std::string& dir) {
  ENGINE_CHECK(std::filesystem::is_directory(dir), "text encoder folder " << dir << " does not exist");
  const std::filesystem::path folder(dir);
  auto model = std::make_shared<BertModel>(BertConfig::from_json_file((folder / "config.json").string()));
  load_bert_weights(*model, (folder / "model.safetensors").string());
  model->eval();
  return model;
}

}  // namespace engine::models
