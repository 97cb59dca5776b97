#include "engine/io/json.h"

#include <set>
#include <vector>

namespace engine::io {
namespace {
struct TooDeep {};
struct DuplicateKey {
  std::string key;
};
}  // namespace

JsonParse parse_json(const std::string& text, const JsonLimits& limits) {
  JsonParse r;
  if (text.size() > limits.max_bytes) {
    r.error = "longer than " + std::to_string(limits.max_bytes) + " bytes";
    return r;
  }
  // nlohmann's parser keeps its own stack; the depth check stops it at the first
  // container past the limit, before anything recursive sees the document.
  // It also refuses a key that appears twice in one object: the parser would keep the
  // last silently, and another reader of the same file might take the first.
  using Event = nlohmann::json::parse_event_t;
  std::vector<std::set<std::string>> open_objects;
  auto guard = [&](int depth, Event event, nlohmann::json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth >= limits.max_depth) throw TooDeep{};
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Event::key && !open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second)
      throw DuplicateKey{parsed.get<std::string>()};
    return true;
  };
  try {
    r.value = nlohmann::json::parse(text, guard);
    r.ok = true;
  } catch (const TooDeep&) {
    r.error = "nested deeper than " + std::to_string(limits.max_depth) + " levels";
  } catch (const DuplicateKey& d) {
    std::string key = d.key.size() > 200 ? d.key.substr(0, 200) + "..." : d.key;
    r.error = "ambiguous: the key \"" + key + "\" appears twice in one object";
  } catch (const nlohmann::json::parse_error& e) {
    r.error = std::string("not valid JSON: ") + e.what();
    r.syntax_error = true;
  } catch (const nlohmann::json::out_of_range& e) {
    r.error = std::string("a number out of range: ") + e.what();
  } catch (const nlohmann::json::exception& e) {
    r.error = std::string("not valid JSON: ") + e.what();
    r.syntax_error = true;
  } catch (const std::bad_alloc&) {
    r.error = "too large to hold in memory";
  }
  return r;
}

}  // namespace engine::io
