#include "data/class_descriptions.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "engine/io/json.h"

namespace engine::data {

int64_t ClassDescriptions::total() const {
  int64_t n = 0;
  for (const auto& v : descriptions) n += int64_t(v.size());
  return n;
}

namespace {

std::string class_label(int64_t i, const std::string& name) {
  std::ostringstream s;
  s << "class " << i;
  if (!name.empty()) s << " (\"" << io::clip(name, 60) << "\")";
  return s.str();
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

std::vector<std::string> read_descriptions(const io::Json& c, const std::string& path, int64_t i,
                                           const std::string& name, const DescriptionLimits& limits) {
  const std::string where = path + ": " + class_label(i, name);
  ENGINE_CONFIG_CHECK(c.contains("descriptions") && c.at("descriptions").is_array(),
                      where << " has no \"descriptions\" array (expected a list of one or more sentences)");
  const io::Json& list = c.at("descriptions");
  ENGINE_CONFIG_CHECK(!list.empty(), where << " has an empty \"descriptions\" list (expected at least one)");
  ENGINE_CONFIG_CHECK(int64_t(list.size()) <= limits.max_per_class,
                      where << " has " << list.size() << " descriptions (at most " << limits.max_per_class << ")");
  std::vector<std::string> out;
  for (size_t k = 0; k < list.size(); ++k) {
    ENGINE_CONFIG_CHECK(list[k].is_string(),
                        where << ", description " << k << " is " << list[k].type_name() << " (expected a string)");
    std::string text = list[k].get<std::string>();
    ENGINE_CONFIG_CHECK(!is_blank(text), where << ", description " << k << " is empty");
    ENGINE_CONFIG_CHECK(int64_t(text.size()) <= limits.max_chars,
                        where << ", description " << k << " is " << text.size() << " bytes long (at most "
                              << limits.max_chars << "): \"" << io::clip(text, 80) << "\"");
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace

ClassDescriptions parse_class_descriptions(const std::string& text, const std::string& path,
                                           const DescriptionLimits& limits) {
  const io::JsonParse parsed = io::parse_json(text);
  ENGINE_CONFIG_CHECK(parsed.ok, "class descriptions " << path << ": " << parsed.error);
  const io::Json& j = parsed.value;
  ENGINE_CONFIG_CHECK(j.is_object(), "class descriptions " << path << ": the document is " << j.type_name()
                                                           << " (expected an object with \"dataset\" and \"classes\")");
  for (auto it = j.begin(); it != j.end(); ++it)
    ENGINE_CONFIG_CHECK(it.key() == "dataset" || it.key() == "classes",
                        "class descriptions " << path << ": unknown key \"" << io::clip(it.key(), 60)
                                              << "\" (expected only \"dataset\" and \"classes\")");
  ClassDescriptions d;
  d.path = path;
  ENGINE_CONFIG_CHECK(j.contains("dataset") && j.at("dataset").is_string(),
                      "class descriptions " << path << ": \"dataset\" must be a string naming the dataset");
  d.dataset = j.at("dataset").get<std::string>();
  ENGINE_CONFIG_CHECK(j.contains("classes") && j.at("classes").is_array() && !j.at("classes").empty(),
                      "class descriptions " << path << ": \"classes\" must be a non-empty list of "
                                            << "{\"name\": ..., \"descriptions\": [...]} objects");
  const io::Json& classes = j.at("classes");
  for (size_t i = 0; i < classes.size(); ++i) {
    const io::Json& c = classes[i];
    ENGINE_CONFIG_CHECK(c.is_object() && c.contains("name") && c.at("name").is_string(),
                        path << ": " << class_label(int64_t(i), "")
                             << " must be an object with a string \"name\" and a \"descriptions\" list");
    std::string name = c.at("name").get<std::string>();
    ENGINE_CONFIG_CHECK(!is_blank(name), path << ": " << class_label(int64_t(i), "") << " has an empty name");
    for (auto it = c.begin(); it != c.end(); ++it)
      ENGINE_CONFIG_CHECK(it.key() == "name" || it.key() == "descriptions",
                          path << ": " << class_label(int64_t(i), name) << " has an unknown key \""
                               << io::clip(it.key(), 60) << "\" (expected \"name\" and \"descriptions\")");
    const auto dup = std::find(d.class_names.begin(), d.class_names.end(), name);
    ENGINE_CONFIG_CHECK(dup == d.class_names.end(), path << ": " << class_label(int64_t(i), name) << " repeats class "
                                                         << (dup - d.class_names.begin()));
    d.descriptions.push_back(read_descriptions(c, path, int64_t(i), name, limits));
    d.class_names.push_back(std::move(name));
  }
  return d;
}

ClassDescriptions load_class_descriptions(const std::string& path, const DescriptionLimits& limits) {
  std::string text;
  try {
    text = io::read_file(path);
  } catch (const Error& e) {
    ENGINE_CONFIG_CHECK(false, "class descriptions " << path << ": cannot be read (" << e.what() << ")");
  }
  return parse_class_descriptions(text, path, limits);
}

void check_classes(const ClassDescriptions& d, const std::vector<std::string>& class_names) {
  const size_t n = std::min(d.class_names.size(), class_names.size());
  for (size_t i = 0; i < n; ++i)
    ENGINE_CONFIG_CHECK(d.class_names[i] == class_names[i],
                        "class descriptions " << d.path << ": class " << i << " is \"" << io::clip(d.class_names[i], 60)
                                              << "\" where the dataset's class " << i << " is \"" << class_names[i]
                                              << "\" (the file must list the dataset's classes in label order)");
  ENGINE_CONFIG_CHECK(d.class_names.size() >= class_names.size(),
                      "class descriptions " << d.path << ": the dataset's class " << n << " (\"" << class_names[n]
                                            << "\") has no descriptions (the file lists " << d.class_names.size()
                                            << " classes, the dataset has " << class_names.size() << ")");
  ENGINE_CONFIG_CHECK(d.class_names.size() == class_names.size(),
                      "class descriptions " << d.path << ": class " << n << " (\"" << io::clip(d.class_names[n], 60)
                                            << "\") is not a class of the dataset, which has " << class_names.size()
                                            << " classes");
}

void check_token_lengths(const ClassDescriptions& d, const std::function<int64_t(const std::string&)>& count_tokens,
                         int64_t max_tokens) {
  for (size_t i = 0; i < d.descriptions.size(); ++i)
    for (size_t k = 0; k < d.descriptions[i].size(); ++k) {
      const int64_t n = count_tokens(d.descriptions[i][k]);
      ENGINE_CONFIG_CHECK(n <= max_tokens, "class descriptions "
                                               << d.path << ": " << class_label(int64_t(i), d.class_names[i])
                                               << ", description " << k << " is " << n
                                               << " tokens long, more than the text encoder's " << max_tokens << ": \""
                                               << io::clip(d.descriptions[i][k], 80) << "\"");
    }
}

namespace {

bool parse_index(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::vector<int64_t> resolve_classes(const std::vector<std::string>& classes,
                                     const std::vector<std::string>& class_names, const std::string& what) {
  std::vector<int64_t> ids;
  for (const std::string& c : classes) {
    int64_t id = -1;
    const auto it = std::find(class_names.begin(), class_names.end(), c);
    if (it != class_names.end()) {
      id = it - class_names.begin();
    } else if (parse_index(c, &id)) {
      ENGINE_CONFIG_CHECK(id < int64_t(class_names.size()),
                          what << ": class index " << c << " is out of range [0, " << class_names.size() << ")");
    } else {
      std::ostringstream known;
      for (size_t i = 0; i < class_names.size() && i < 12; ++i) known << (i ? ", " : "") << class_names[i];
      if (class_names.size() > 12) known << ", ...";
      const std::string guess = io::did_you_mean(c, class_names);
      ENGINE_CONFIG_CHECK(false, what << ": \"" << io::clip(c, 60) << "\" is neither a class name nor an index"
                                      << (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)")
                                      << "; the classes are " << known.str());
    }
    ENGINE_CONFIG_CHECK(std::find(ids.begin(), ids.end(), id) == ids.end(),
                        what << ": class " << id << " (\"" << class_names[size_t(id)] << "\") is named twice");
    ids.push_back(id);
  }
  return ids;
}

}  // namespace engine::data
