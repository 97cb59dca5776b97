#pragma once
// Plain-English descriptions of each class of a dataset (configs/labels/<dataset>.json),
// the text side of the multimodal model: a class is defined by what its descriptions say.
//
// File format:
//   {"dataset": "cifar10",
//    "classes": [{"name": "airplane", "descriptions": ["a large metal aircraft ...", ...]}, ...]}
// The classes are listed in label order, each once, with at least one description.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace engine::data {

struct ClassDescriptions {
  std::string path;                                    // where they were read from (for messages)
  std::string dataset;                                 // as the file names it
  std::vector<std::string> class_names;                // label order
  std::vector<std::vector<std::string>> descriptions;  // [class][k]

  int64_t num_classes() const { return int64_t(class_names.size()); }
  int64_t total() const;  // descriptions over all classes
};

struct DescriptionLimits {
  int64_t max_chars = 1000;     // per description, in bytes of UTF-8
  int64_t max_per_class = 256;  // descriptions per class
};

// Parses `text` read from `path` (used in messages only). Every error is an
// io::ConfigError naming the file, the class (by position and name) and what was expected.
ClassDescriptions parse_class_descriptions(const std::string& text, const std::string& path,
                                           const DescriptionLimits& limits = {});
ClassDescriptions load_class_descriptions(const std::string& path, const DescriptionLimits& limits = {});

// The classes must be exactly `class_names`, in that order (a dataset's label order).
// Throws naming the file and the first class that is missing, extra or out of place.
void check_classes(const ClassDescriptions& d, const std::vector<std::string>& class_names);

// Every description must fit the text encoder: count_tokens(text) (special tokens
// included, no truncation) <= max_tokens. Throws naming the file, class, description and
// its length.
void check_token_lengths(const ClassDescriptions& d, const std::function<int64_t(const std::string&)>& count_tokens,
                         int64_t max_tokens);

// Class ids named by `classes`, each a class name of `class_names` or a decimal index in
// [0, class_names.size()); `what` names the source in messages (e.g. a config key).
// Throws on an unknown name, an index out of range or a class named twice.
std::vector<int64_t> resolve_classes(const std::vector<std::string>& classes,
                                     const std::vector<std::string>& class_names, const std::string& what);

}  // namespace engine::data
