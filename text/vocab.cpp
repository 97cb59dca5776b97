#include "text/vocab.h"

#include <fstream>
#include <sstream>

#include "base/check.h"

namespace engine::text {

Vocab Vocab::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ENGINE_CHECK(f.good(), "vocabulary '" << path << "' cannot be opened: check the path");
  std::vector<std::string> tokens;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(std::move(line));
  }
  ENGINE_CHECK(!f.bad(), "vocabulary '" << path << "': read error");
  return from_tokens(std::move(tokens), "vocabulary '" + path + "'");
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens, const std::string& source) {
  ENGINE_CHECK(!tokens.empty(), source << " is empty");
  ENGINE_CHECK(tokens.size() <= static_cast<size_t>(INT32_MAX), source << " has too many tokens");
  Vocab v;
  v.ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    ENGINE_CHECK(!t.empty(), source << ": line " << i + 1 << " is empty (a token per line, no blank lines)");
    auto [it, inserted] = v.ids_.emplace(t, static_cast<int32_t>(i));
    ENGINE_CHECK(inserted,
                 source << ": token '" << t << "' appears twice, on lines " << it->second + 1 << " and " << i + 1);
  }
  v.tokens_ = std::move(tokens);
  auto special = [&](const char* name) {
    const int32_t id = v.find(name);
    ENGINE_CHECK(id >= 0, source << " has no special token " << name << " (BERT vocabularies hold [PAD], [UNK], "
                                 << "[CLS] and [SEP])");
    return id;
  };
  v.pad_ = special("[PAD]");
  v.unk_ = special("[UNK]");
  v.cls_ = special("[CLS]");
  v.sep_ = special("[SEP]");
  v.mask_ = v.find("[MASK]");
  return v;
}

int32_t Vocab::find(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& Vocab::token(int32_t id) const {
  ENGINE_CHECK(id >= 0 && id < size(), "token id " << id << " is outside the vocabulary [0, " << size() << ")");
  return tokens_[static_cast<size_t>(id)];
}

}  // namespace engine::text
