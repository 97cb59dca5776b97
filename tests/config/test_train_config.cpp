// Training configuration: defaults, overrides and the messages of bad configs.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/common/train_config.h"
#include "test_util.h"

using namespace engine;

namespace {

// ctest runs the cases of this file in parallel processes: each file name is unique.
std::string write_config(const std::string& name, const std::string& text) {
  static int counter = 0;
  std::string path = std::string(ENGINE_BINARY_DIR) + "/test_config_" + name + "_" + std::to_string(getpid()) + "_" +
                     std::to_string(counter++) + ".json";
  std::ofstream(path) << text;
  return path;
}

std::string config_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  std::string path = write_config("bad", text);
  try {
    app::load_train_config(path, sets, nullptr);
  } catch (const io::ConfigError& e) {
    return e.message();
  }
  return "";
}

}  // namespace

TEST_CASE("the quickstart config parses with its values", "[config]") {
  app::TrainConfig c =
      app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_fashion_mnist.json", {}, nullptr);
  CHECK(c.data.dataset == "fashion_mnist");
  CHECK(c.model.width_mult == 0.125);
  CHECK(c.training.batch_size == 64);
  CHECK(c.training.weight_decay == 0.0005);
  CHECK(c.output.dir == "runs");
}

TEST_CASE("every config in configs/ is valid", "[config]") {
  int checked = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(ENGINE_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path().string());
    CHECK_NOTHROW(app::load_train_config(e.path().string(), {}, nullptr));
    ++checked;
  }
  CHECK(checked >= 11);
}

TEST_CASE("the fast CIFAR-10 config: GPU-resident data, batch 512, one-cycle, label smoothing, bf16", "[config]") {
  app::TrainConfig c =
      app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/resnet18_cifar10_fast.json", {}, nullptr);
  CHECK(c.data.dataset == "cifar10");
  CHECK(c.data.gpu_resident);
  CHECK(c.training.batch_size == 512);
  CHECK(c.training.schedule == "onecycle");
  CHECK(c.training.label_smoothing > 0);
  CHECK(c.training.epochs >= 10);
  CHECK(c.training.epochs <= 15);
  CHECK(c.model.checkpoint_stages.empty());
  CHECK(c.training.precision == "bf16");
}

TEST_CASE("data.gpu_resident and model.checkpoint_stages: defaults and checks", "[config]") {
  app::TrainConfig c = app::parse_train_config(app::default_train_config());
  CHECK_FALSE(c.data.gpu_resident);
  CHECK(c.model.checkpoint_stages.empty());
  io::Json j = app::default_train_config();
  j["model"]["checkpoint_stages"] = io::Json::array({1, 3, 4});
  CHECK(app::parse_train_config(j).model.checkpoint_stages == std::vector<int64_t>{1, 3, 4});
  CHECK(config_error(R"({"model": {"checkpoint_stages": [0]}})").find("stage numbers 1..4, got 0") !=
        std::string::npos);
  CHECK(config_error(R"({"model": {"checkpoint_stages": [2, 2]}})").find("names stage 2 twice") != std::string::npos);
  CHECK(config_error(R"({"model": {"checkpoint_stages": ["layer1"]}})").find("stage numbers 1..4") !=
        std::string::npos);
}

TEST_CASE("unknown keys are errors with a suggestion and the key path", "[config]") {
  std::string m = config_error(R"({"training": {"learning_rate": 0.1}})");
  CHECK(m.find("unknown key 'training.learning_rate'") != std::string::npos);
  m = config_error(R"({"trainig": {"lr": 0.1}})");
  CHECK(m.find("did you mean 'training'") != std::string::npos);
  m = config_error(R"({"training": {"epoch": 3}})");
  CHECK(m.find("did you mean 'epochs'") != std::string::npos);
}

TEST_CASE("wrong types and out-of-range values name the key", "[config]") {
  CHECK(config_error(R"({"training": {"lr": "fast"}})").find("'training.lr' must be a number, got a string") !=
        std::string::npos);
  CHECK(config_error(R"({"training": {"lr": -0.1}})").find("'training.lr' = -0.1 is out of range") !=
        std::string::npos);
  CHECK(config_error(R"({"training": {"batch_size": 0}})").find("'training.batch_size' = 0") != std::string::npos);
  CHECK(config_error(R"({"training": {"epochs": 1.5}})").find("'training.epochs' must be an integer") !=
        std::string::npos);
  CHECK(config_error(R"({"training": {"epochs": 0}})").find("'training.epochs' = 0") != std::string::npos);
  CHECK(config_error(R"({"data": {"dataset": "cifar11"}})").find("did you mean \"cifar10\"") != std::string::npos);
  CHECK(config_error(R"({"device": "gpu"})").find("'device'") != std::string::npos);
  CHECK(config_error(R"({"training": {"optimizer": "adam"}})").find("'training.optimizer'") != std::string::npos);
}

TEST_CASE("malformed JSON and a missing file are errors naming the file", "[config]") {
  CHECK(config_error(R"({"training": {"lr": 0.1,}})").find("is not valid JSON") != std::string::npos);
  CHECK_THROWS_WITH(app::load_train_config("/nonexistent/x.json", {}, nullptr),
                    Catch::Contains("'/nonexistent/x.json' cannot be opened"));
  CHECK(config_error("[1, 2]").find("must be a JSON object") != std::string::npos);
}

TEST_CASE("overrides from the environment and --set, later wins", "[config]") {
  std::string path = write_config("ok", R"({"training": {"lr": 0.1}})");
  std::string env1 = "ENGINE_CONFIG_TRAINING_lr=0.05", env2 = "ENGINE_CONFIG_DATA_train_limit=100", other = "PATH=/bin";
  char* envp[] = {env1.data(), env2.data(), other.data(), nullptr};
  std::vector<std::string> applied;
  app::TrainConfig c = app::load_train_config(path, {"training.epochs=3", "model.width_mult=0.5"}, envp, &applied);
  CHECK(c.training.lr == 0.05);
  CHECK(c.data.train_limit == 100);
  CHECK(c.training.epochs == 3);
  CHECK(c.model.width_mult == 0.5);
  CHECK(applied.size() == 2);
  c = app::load_train_config(path, {"training.lr=0.2"}, envp);
  CHECK(c.training.lr == 0.2);
  CHECK(config_error(R"({})", {"training.lrr=0.1"}).find("--set training.lrr=0.1: unknown key 'training.lrr'") !=
        std::string::npos);
  CHECK(config_error(R"({})", {"noequals"}).find("expected key.path=value") != std::string::npos);
}

TEST_CASE("engine switches and config overrides are apart in the environment", "[config]") {
  std::string path = write_config("ok", R"({"moe": {"placement": ["layer3"]}})");
  auto load = [&](std::vector<std::string> vars, std::vector<std::string>* applied = nullptr) {
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    return app::load_train_config(path, {}, envp.data(), applied);
  };
  // The documented MoE switches are not read as overrides of the moe section.
  std::vector<std::string> applied;
  app::TrainConfig c = load({"ENGINE_MOE_ROUTE=sort", "ENGINE_MOE_GEMM=tiled", "ENGINE_CONFIG_MOE_top_k=2"}, &applied);
  CHECK(c.moe.top_k == 2);
  CHECK(applied == std::vector<std::string>{"ENGINE_CONFIG_MOE_top_k"});
  // An override without CONFIG_ is an error that names the override it resembles.
  try {
    load({"ENGINE_TRAINING_lr=0.05"});
    FAIL("ENGINE_TRAINING_lr was accepted");
  } catch (const io::ConfigError& e) {
    CHECK_THAT(e.message(), Catch::Contains("did you mean ENGINE_CONFIG_TRAINING_lr?"));
  }
  CHECK_THROWS_AS(load({"ENGINE_CONFIG_TRAINNG_lr=0.05"}), io::ConfigError);
  // Any other ENGINE_ variable is reported with the switch it resembles, and ignored.
  std::string env = "ENGINE_TF23=1";
  char* envp[] = {env.data(), nullptr};
  io::Json defaults = app::default_train_config(), j = defaults;
  std::vector<std::string> warnings;
  CHECK(io::apply_env_overrides(j, defaults, envp, &warnings).empty());
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("did you mean ENGINE_TF32?"));
}

TEST_CASE("numbers past what a run can use are refused, not wrapped", "[config]") {
  CHECK_THAT(config_error(R"({"seed": -1})"), Catch::Contains("config key 'seed' = -1 is out of range"));
  CHECK_THAT(config_error(R"({"training": {"epochs": 1000000000000000000}})"),
             Catch::Contains("config key 'training.epochs'"));
  CHECK_THAT(config_error(R"({"training": {"batch_size": 9000000000}})"),
             Catch::Contains("config key 'training.batch_size'"));
  // Past INT64_MAX the value wrapped negative and the message quoted that number.
  CHECK_THAT(config_error(R"({"data": {"train_limit": 18446744073709551615}})"),
             Catch::Contains("config key 'data.train_limit' = 18446744073709551615 is out of range"));
  CHECK_THAT(config_error("{}", {"training.max_steps=9223372036854775808"}),
             Catch::Contains("'training.max_steps' = 9223372036854775808 is out of range"));
  CHECK(app::load_train_config(write_config("ok", R"({"training": {"max_steps": 9223372036854775807}})"), {}, nullptr)
            .training.max_steps == INT64_MAX);
}

TEST_CASE("hostile JSON: nesting past the bound, numbers past double, a directory", "[config]") {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THAT(config_error(R"({"training": {"lr": )" + deep + "}}"), Catch::Contains("nested deeper than 64 levels"));
  CHECK_THAT(config_error(R"({"training": {"lr": 1e999}})"), Catch::Contains("number out of range"));
  CHECK_THAT(config_error("{}", {"training.lr=" + deep}), Catch::Contains("nested deeper than 64 levels"));
  CHECK_THAT(config_error("{}", {"training.lr=1e999"}), Catch::Contains("number out of range"));
  // Nesting within the bound still reaches the schema check.
  CHECK_THAT(config_error(R"({"training": {"lr": [[[1]]]}})"), Catch::Contains("training.lr"));
  try {
    app::load_train_config(ENGINE_BINARY_DIR, {}, nullptr);
    FAIL("a directory was read as a config");
  } catch (const io::ConfigError& e) {
    CHECK_THAT(e.message(), Catch::Contains("is a directory"));
  }
}

TEST_CASE("override key paths of thousands of parts or with empty parts are refused, quickly", "[config]") {
  // A path of 100000 parts once nested the override as deep: quadratic to build, then a
  // stack overflow when copied or printed.
  std::string deep = "training";
  for (int i = 0; i < 100000; ++i) deep += ".a";
  std::string m = config_error("{}", {deep + "=1"});
  CHECK_THAT(m, Catch::Contains("has more than 64 parts"));
  CHECK(m.size() < 600);
  CHECK_THAT(config_error("{}", {"training..lr=0.1"}), Catch::Contains("'training..lr' has an empty part"));
  CHECK_THAT(config_error("{}", {"training.=0.1"}), Catch::Contains("empty part"));
  CHECK_THAT(config_error("{}", {".seed=1"}), Catch::Contains("empty part"));
  // Through the environment too.
  std::string path = write_config("ok", "{}");
  std::string var = "ENGINE_CONFIG_TRAINING_" + deep.substr(9) + "=1";
  char* envp[] = {var.data(), nullptr};
  CHECK_THROWS_WITH(app::load_train_config(path, {}, envp), Catch::Contains("has more than 64 parts"));
  // The longest real path still works.
  CHECK(app::load_train_config(path, {"training.loss_scale.init=1024"}, nullptr).training.loss_scale_init == 1024);
}

TEST_CASE("override values that are neither JSON nor UTF-8 text are refused with a ConfigError", "[config]") {
  // Such a value was taken as a string; printing it in a message, or writing the
  // configuration back as JSON, then threw nlohmann's type_error 316.
  CHECK_THAT(config_error("{}", {"data.augment.crop_padding=\"\x80\x80"}),
             Catch::Contains("'data.augment.crop_padding' is not JSON, and as text it is not valid UTF-8") &&
                 Catch::Contains("byte 0x80 at offset 1"));
  CHECK_THAT(config_error("{}", {"data.path=caf\xc3"}), Catch::Contains("not valid UTF-8"));
  CHECK_THAT(config_error("{}", {"data.path=\xed\xa0\x80"}), Catch::Contains("not valid UTF-8"));  // a surrogate
  CHECK_THAT(config_error("{}", {"data.path=\xc0\x80"}), Catch::Contains("not valid UTF-8"));      // overlong
  std::string path = write_config("ok", "{}");
  std::string var = "ENGINE_CONFIG_DATA_path=/data/\xff";
  char* envp[] = {var.data(), nullptr};
  CHECK_THROWS_WITH(app::load_train_config(path, {}, envp),
                    Catch::Contains("environment variable ENGINE_CONFIG_DATA_path") && Catch::Contains("UTF-8"));
  // UTF-8 text is still a string value, and the configuration is written back as JSON.
  app::TrainConfig c = app::load_train_config(path, {"data.path=/données/\xe2\x82\xac"}, nullptr);
  CHECK(c.data.path == "/données/\xe2\x82\xac");
  CHECK_NOTHROW(c.json.dump());
}

TEST_CASE("a config path to something endless or huge is refused after the reader's limit", "[config]") {
  // /dev/zero was read until memory ran out (std::bad_alloc) before the size check.
  CHECK_THROWS_WITH(app::load_train_config("/dev/zero", {}, nullptr),
                    Catch::Contains("config file '/dev/zero' is longer than 67108864 bytes"));
  std::string big = write_config("big", "{\"name\": \"" + std::string((size_t(64) << 20) + 1, 'x') + "\"}");
  CHECK_THROWS_WITH(app::load_train_config(big, {}, nullptr), Catch::Contains("is longer than"));
  std::remove(big.c_str());
}

TEST_CASE("a key given twice in one object is refused, not silently the last", "[config]") {
  CHECK_THAT(config_error(R"({"training": {"lr": 0.1, "epochs": 2, "lr": 0.5}})"),
             Catch::Contains("is refused: ambiguous: the key \"lr\" appears twice in one object"));
  CHECK_THAT(config_error("{}", {R"(training.loss_scale={"init": 2, "init": 4})"}),
             Catch::Contains("the value of 'training.loss_scale' is refused: ambiguous"));
  // The same name in two sections is two keys.
  std::string path = write_config("ok", R"({"data": {"train_limit": 10}, "training": {"max_steps": 10}})");
  CHECK(app::load_train_config(path, {}, nullptr).training.max_steps == 10);
}

TEST_CASE("a megabytes-long unknown key or enum value is refused without a slow suggestion search", "[config]") {
  // The "did you mean" search compared it with every candidate, in time proportional to
  // its length times theirs: seconds for a pasted 16 MB key. Candidates whose length
  // alone puts them too far away are now skipped (no timing here: the suggestion for a
  // key that long is empty, and near keys still get theirs).
  std::string key(size_t(16) << 20, 'h');
  std::string m = config_error(R"({"training": {")" + key + R"(": 1}})");
  CHECK_THAT(m, Catch::Contains("unknown key 'training.hhh"));
  CHECK(io::did_you_mean(key, {"lr", "epochs"}).empty());
  CHECK(io::did_you_mean("epoch", {"lr", "epochs"}) == "epochs");
  CHECK(io::did_you_mean("lrr", {"lr", "epochs"}) == "lr");
}

TEST_CASE("the moe section: off by default, the configs' values, range checks", "[config]") {
  std::string dense = write_config("dense", "{}");
  CHECK_FALSE(app::load_train_config(dense, {}, nullptr).moe.enabled());
  app::TrainConfig c =
      app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/resnet18_moe_cifar10.json", {}, nullptr);
  CHECK(c.moe.enabled());
  CHECK(c.moe.placement == std::vector<std::string>{"layer3", "layer4"});
  CHECK(c.moe.num_experts == 4);
  CHECK(c.moe.top_k == 1);
  CHECK(c.moe.lb_coef == 0.01);
  c = app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/resnet18_moe_top2_cifar10.json", {}, nullptr);
  CHECK(c.moe.top_k == 2);
  CHECK(c.moe.renormalize);
  c = app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/resnet18_moe8_cifar10.json", {}, nullptr);
  CHECK(c.moe.num_experts == 8);
  c = app::load_train_config(dense, {"moe.placement=[\"head\"]", "moe.router=\"attentive\"", "moe.top_k=3"}, nullptr);
  CHECK(c.moe.placement == std::vector<std::string>{"head"});
  CHECK(c.moe.router == "attentive");

  CHECK(config_error(R"({"moe": {"placement": ["layer5"]}})").find("'moe.placement': unknown value \"layer5\"") !=
        std::string::npos);
  CHECK(config_error(R"({"moe": {"placement": ["head", "head"]}})").find("names \"head\" twice") != std::string::npos);
  CHECK(config_error(R"({"moe": {"placement": [3]}})").find("'moe.placement' must hold strings") != std::string::npos);
  CHECK(config_error(R"({"moe": {"num_experts": 4, "top_k": 5}})").find("'moe.top_k' = 5 is out of range") !=
        std::string::npos);
  CHECK(config_error(R"({"moe": {"top_k": 0}})").find("'moe.top_k' = 0") != std::string::npos);
  CHECK(config_error(R"({"moe": {"num_experts": 0}})").find("'moe.num_experts' = 0") != std::string::npos);
  CHECK(config_error(R"({"moe": {"capacity_factor": 0}})").find("'moe.capacity_factor'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"temperature": -1}})").find("'moe.temperature'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"hidden_mult": 0}})").find("'moe.hidden_mult'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"lb_coef": -0.1}})").find("'moe.lb_coef'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"router": "dense"}})").find("'moe.router'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"drop_priority": "random"}})").find("'moe.drop_priority'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"activation": "tanh"}})").find("'moe.activation'") != std::string::npos);
  CHECK(config_error(R"({"moe": {"learned_noise": true}})").find("needs 'moe.noisy' = true") != std::string::npos);
  CHECK(config_error(R"({"moe": {"expert_count": 4}})").find("unknown key 'moe.expert_count'") != std::string::npos);
}

TEST_CASE("moe.eval_capacity_factor: null (dropless evaluation) by default and for configs without it", "[config]") {
  const std::string moe = std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_moe_fashion_mnist.json";
  app::TrainConfig c = app::load_train_config(moe, {}, nullptr);
  CHECK(c.moe.drop_tokens);
  CHECK_FALSE(c.moe.eval_capacity_factor);
  CHECK(c.json["moe"]["eval_capacity_factor"].is_null());  // saved as null in the run's config.json
  // A run directory's config.json from before the key existed: the default applies.
  app::TrainConfig old = app::load_train_config(
      write_config("old_run", R"({"moe": {"placement": ["layer4"], "drop_tokens": true}})"), {}, nullptr);
  CHECK_FALSE(old.moe.eval_capacity_factor);
  c = app::load_train_config(moe, {"moe.eval_capacity_factor=1.25"}, nullptr);
  REQUIRE(c.moe.eval_capacity_factor);
  CHECK(*c.moe.eval_capacity_factor == 1.25);
  c = app::load_train_config(moe, {"moe.eval_capacity_factor=2"}, nullptr);
  CHECK(c.moe.eval_capacity_factor == 2.0);
  c = app::load_train_config(moe, {"moe.eval_capacity_factor=1.5", "moe.eval_capacity_factor=null"}, nullptr);
  CHECK_FALSE(c.moe.eval_capacity_factor);
  // A saved config with a factor reads back with it.
  c = app::load_train_config(write_config("ecf", R"({"moe": {"eval_capacity_factor": 0.5}})"), {}, nullptr);
  CHECK(c.moe.eval_capacity_factor == 0.5);

  CHECK(config_error(R"({"moe": {"eval_capacity_factor": 0}})")
            .find("'moe.eval_capacity_factor' = 0 is out of range: expected (0, 64] or null (dropless)") !=
        std::string::npos);
  CHECK(config_error(R"({"moe": {"eval_capacity_factor": 65}})").find("'moe.eval_capacity_factor' = 65") !=
        std::string::npos);
  CHECK(config_error(R"({"moe": {"eval_capacity_factor": "dropless"}})")
            .find("'moe.eval_capacity_factor' must be null (dropless evaluation) or a number, got \"dropless\"") !=
        std::string::npos);
  CHECK(config_error(R"({"moe": {"eval_capacity_factor": true}})").find("'moe.eval_capacity_factor' must be null") !=
        std::string::npos);
}
