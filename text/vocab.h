#pragma once
// A WordPiece vocabulary: vocab.txt, one token a line, the line number (from 0) its id.
// Continuation pieces start with "##". The special tokens [PAD], [UNK], [CLS] and [SEP]
// must be present; [MASK] is looked up when there.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace engine::text {

class Vocab {
 public:
  // Throws naming the file and the problem: a file that cannot be read, an empty file,
  // an empty line, a token that appears twice (with both line numbers), a missing
  // special token.
  static Vocab load(const std::string& path);
  // The same checks on tokens given in id order; `source` names them in errors.
  static Vocab from_tokens(std::vector<std::string> tokens, const std::string& source = "vocabulary");

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // -1 when the token is not in the vocabulary.
  int32_t find(std::string_view token) const;
  bool contains(std::string_view token) const { return find(token) >= 0; }
  const std::string& token(int32_t id) const;

  int32_t pad_id() const { return pad_; }
  int32_t unk_id() const { return unk_; }
  int32_t cls_id() const { return cls_; }
  int32_t sep_id() const { return sep_; }
  int32_t mask_id() const { return mask_; }  // -1 without [MASK]

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  int32_t pad_ = -1, unk_ = -1, cls_ = -1, sep_ = -1, mask_ = -1;
};

}  // namespace engine::text
