// Class descriptions (configs/labels/*.json): the shipped files match their datasets'
// classes; the loader's errors name the file, the class and what was expected; and
// data.holdout_classes keeps every held-out image out of training and validation.
#include <set>

#include "apps/common/run_setup.h"
#include "apps/common/train_config.h"
#include "data/class_descriptions.h"
#include "data/registry.h"
#include "engine/io/config.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;
using Catch::Contains;

namespace {

std::string labels_path(const std::string& stem) {
  return std::string(ENGINE_SOURCE_DIR) + "/configs/labels/" + stem + ".json";
}

std::string parse_error(const std::string& text) {
  try {
    parse_class_descriptions(text, "labels.json");
  } catch (const io::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("class descriptions: every dataset's file lists its classes in label order", "[data]") {
  const std::vector<DatasetSpec> specs = {
      {"fashion_mnist", "", "fine"}, {"cifar10", "", "fine"}, {"cifar100", "", "fine"}, {"cifar100", "", "coarse"}};
  for (const DatasetSpec& spec : specs) {
    const std::string stem = class_descriptions_stem(spec);
    INFO(stem);
    const ClassDescriptions d = load_class_descriptions(labels_path(stem));
    CHECK(d.dataset == stem);
    const std::vector<std::string> names = dataset_class_names(spec);
    REQUIRE(int64_t(names.size()) == dataset_num_classes(spec));
    CHECK_NOTHROW(check_classes(d, names));
    // Several different descriptions per class (five for the ten-class datasets).
    const size_t at_least = names.size() == 10 ? 5 : 2;
    for (size_t c = 0; c < d.descriptions.size(); ++c) {
      INFO(d.class_names[c]);
      CHECK(d.descriptions[c].size() >= at_least);
      CHECK(std::set<std::string>(d.descriptions[c].begin(), d.descriptions[c].end()).size() ==
            d.descriptions[c].size());
    }
  }
  CHECK(class_descriptions_stem({"cifar100", "", "coarse"}) == "cifar100_coarse");
}

TEST_CASE("class descriptions: malformed files are refused naming file, class and what was expected", "[data]") {
  CHECK_THAT(parse_error("{"), Contains("labels.json") && Contains("not valid JSON"));
  CHECK_THAT(parse_error("[]"), Contains("labels.json") && Contains("expected an object"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": []})"), Contains("non-empty list"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "cat", "descriptions": ["a"]}], "extra": 1})"),
             Contains("unknown key \"extra\""));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "cat"}]})"),
             Contains("class 0 (\"cat\") has no \"descriptions\" array"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "cat", "descriptions": []}]})"),
             Contains("class 0 (\"cat\") has an empty \"descriptions\" list"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "cat", "descriptions": ["a cat", "  "]}]})"),
             Contains("class 0 (\"cat\"), description 1 is empty"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "cat", "descriptions": [3]}]})"),
             Contains("description 0 is number (expected a string)"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "a", "descriptions": ["x"]},
                                                        {"name": "a", "descriptions": ["y"]}]})"),
             Contains("class 1 (\"a\") repeats class 0"));
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"descriptions": ["x"]}]})"),
             Contains("class 0 must be an object with a string \"name\""));
  const std::string long_text(1001, 'a');
  CHECK_THAT(parse_error(R"({"dataset": "x", "classes": [{"name": "a", "descriptions": [")" + long_text + "\"]}]}"),
             Contains("1001 bytes long (at most 1000)"));
  CHECK_THROWS_WITH(load_class_descriptions("/nonexistent/labels.json"),
                    Contains("/nonexistent/labels.json") && Contains("cannot be read"));
}

TEST_CASE("class descriptions: classes are checked against the dataset's, and lengths against the encoder's",
          "[data]") {
  const ClassDescriptions d = parse_class_descriptions(
      R"({"dataset": "x", "classes": [{"name": "cat", "descriptions": ["a small cat"]},
                                      {"name": "dog", "descriptions": ["a dog", "a big dog with long ears"]}]})",
      "labels.json");
  CHECK(d.total() == 3);
  CHECK_NOTHROW(check_classes(d, {"cat", "dog"}));
  CHECK_THROWS_WITH(check_classes(d, {"dog", "cat"}),
                    Contains("class 0 is \"cat\" where the dataset's class 0 is \"dog\""));
  CHECK_THROWS_WITH(check_classes(d, {"cat", "dog", "cow"}), Contains("class 2 (\"cow\") has no descriptions"));
  CHECK_THROWS_WITH(check_classes(d, {"cat"}), Contains("class 1 (\"dog\") is not a class of the dataset"));
  const auto words = [](const std::string& s) {
    return int64_t(std::count(s.begin(), s.end(), ' ') + 1 + 2);  // + [CLS], [SEP]
  };
  CHECK_NOTHROW(check_token_lengths(d, words, 8));
  CHECK_THROWS_WITH(check_token_lengths(d, words, 7),
                    Contains("class 1 (\"dog\"), description 1 is 8 tokens long, more than the text encoder's 7"));
}

TEST_CASE("resolve_classes takes names or indices and refuses unknown, out-of-range and repeated ones", "[data]") {
  const std::vector<std::string> names = {"airplane", "automobile", "bird", "cat"};
  CHECK(resolve_classes({"cat", "0", "bird"}, names, "k") == std::vector<int64_t>{3, 0, 2});
  CHECK_THROWS_WITH(resolve_classes({"cta"}, names, "key 'h'"),
                    Contains("key 'h'") && Contains("\"cta\" is neither a class name nor an index") &&
                        Contains("did you mean \"cat\"?"));
  CHECK_THROWS_WITH(resolve_classes({"4"}, names, "k"), Contains("class index 4 is out of range [0, 4)"));
  CHECK_THROWS_WITH(resolve_classes({"cat", "3"}, names, "k"), Contains("class 3 (\"cat\") is named twice"));
}

TEST_CASE("select_classes keeps or drops classes in the original order", "[data]") {
  Dataset d;
  d.name = "synthetic";
  d.num_classes = 4;
  d.images = Tensor::empty({10, 1, 2, 2}, DType::u8);
  d.labels = Tensor::empty({10}, DType::i64);
  for (int64_t i = 0; i < 40; ++i) d.images.data<uint8_t>()[i] = uint8_t(i);
  for (int64_t i = 0; i < 10; ++i) d.labels.data<int64_t>()[i] = (i * 3) % 4;  // 0 3 2 1 0 3 2 1 0 3
  const Dataset kept = select_classes(d, {3, 1}, true);
  REQUIRE(kept.size() == 5);
  const std::vector<int64_t> expected_rows = {1, 3, 5, 7, 9};
  for (int64_t r = 0; r < 5; ++r) {
    CHECK(kept.labels.data<int64_t>()[r] == d.labels.data<int64_t>()[expected_rows[size_t(r)]]);
    CHECK(kept.images.data<uint8_t>()[r * 4] == uint8_t(expected_rows[size_t(r)] * 4));
  }
  const Dataset dropped = select_classes(d, {3, 1}, false);
  REQUIRE(dropped.size() == 5);
  for (int64_t r = 0; r < 5; ++r) CHECK(dropped.labels.data<int64_t>()[r] % 2 == 0);
  CHECK_THROWS_WITH(select_classes(d, {4}, false), Contains("class 4 out of range [0, 4)"));
}

TEST_CASE("data.holdout_classes: no held-out image is trained or validated on, the test set keeps them", "[data]") {
  io::Json j = app::default_train_config();
  j["data"]["dataset"] = "fashion_mnist";
  j["data"]["train_limit"] = 3000;
  j["data"]["test_limit"] = 1000;
  j["data"]["val_size"] = 300;
  j["data"]["holdout_classes"] = io::Json::array({"Sandal", 9});
  const app::TrainConfig c = app::parse_train_config(j);
  const app::Datasets d = app::load_datasets(c);
  CHECK(d.holdout_classes == std::vector<int64_t>{5, 9});
  for (const Dataset* part : {&d.train, &d.val}) {
    const std::vector<int64_t> h = class_histogram(*part);
    CHECK(h[5] == 0);
    CHECK(h[9] == 0);
    for (int64_t k : {0, 1, 2, 3, 4, 6, 7, 8}) CHECK(h[size_t(k)] > 0);
  }
  // Everything else of the first 3000 images is still there.
  j["data"]["holdout_classes"] = io::Json::array();
  j["data"]["val_size"] = 0;
  const app::Datasets all = app::load_datasets(app::parse_train_config(j));
  const std::vector<int64_t> h = class_histogram(all.train);
  CHECK(d.train.size() + d.val.size() == all.train.size() - h[5] - h[9]);
  const std::vector<int64_t> t = class_histogram(d.test);
  CHECK(t[5] > 0);
  CHECK(t[9] > 0);

  j["data"]["holdout_classes"] = io::Json::array({"sandal"});
  CHECK_THROWS_WITH(app::load_datasets(app::parse_train_config(j)),
                    Contains("config key 'data.holdout_classes'") && Contains("did you mean \"Sandal\"?"));
  j["data"]["holdout_classes"] = io::Json::array({-1});
  CHECK_THROWS_WITH(app::parse_train_config(j), Contains("class names or class indices >= 0, got -1"));
  j["data"]["holdout_classes"] = io::Json::array({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK_THROWS_WITH(app::load_datasets(app::parse_train_config(j)), Contains("holds out all 10 classes"));
}
