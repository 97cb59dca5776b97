#include "engine/io/json.h"

namespace engine::io {
namespace {
struct TooDeep {};
}  // namespace

JsonParse parse_json(const std::string& text, const JsonLimits& limits) {
  JsonParse r;
  if (text.size() > limits.max_bytes) {
    r.error = "longer than " + std::to_string(limits.max_bytes) + " bytes";
    return r;
  }
  // nlohmann's parser keeps its own stack; the depth check stops it at the first
  // container past the limit, before anything recursive sees the document.
  auto guard = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth >= limits.max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    r.value = nlohmann::json::parse(text, guard);
    r.ok = true;
  } catch (const TooDeep&) {
    r.error = "nested deeper than " + std::to_string(limits.max_depth) + " levels";
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
