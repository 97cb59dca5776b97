// apps/common/model_card.h: the metadata that makes a checkpoint self-describing, read
// back as a configuration, and the message for a checkpoint without it.
#include <filesystem>

#include "apps/common/model_card.h"
#include "engine/io/config.h"
#include "engine/io/safetensors.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

data::Dataset tiny_cifar_like() {
  data::Dataset d;
  d.name = "cifar10";
  d.images = Tensor::zeros({2, 3, 32, 32}, DType::u8);
  d.labels = Tensor::zeros({2}, DType::i64);
  d.num_classes = 10;
  d.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return d;
}

}  // namespace

TEST_CASE("a checkpoint's model card describes its input and reads back as its configuration", "[metrics]") {
  io::Json j = app::default_train_config();
  j["data"]["dataset"] = "cifar10";
  j["model"]["width_mult"] = 0.5;
  j["moe"]["placement"] = io::Json::array({"layer4"});
  j["training"]["lr"] = 0.025;
  app::TrainConfig c = app::parse_train_config(j);
  auto card = app::model_card(c, tiny_cifar_like());
  CHECK(card["model"] == "resnet18_moe");
  CHECK(card["width_mult"] == "0.5");
  CHECK(card["num_classes"] == "10");
  CHECK(io::Json::parse(card["class_names"])[9] == "truck");
  CHECK(card["input_shape"] == "[3,32,32]");
  CHECK(card["input_layout"] == "NCHW float32");
  io::Json mean = io::Json::parse(card["normalization_mean"]), stdev = io::Json::parse(card["normalization_std"]);
  REQUIRE(mean.size() == 3);
  REQUIRE(stdev.size() == 3);
  CHECK(mean[0].get<double>() == Approx(0.4914).epsilon(1e-3));
  CHECK(card.count("moe") == 1);
  CHECK(std::string(app::engine_version()) != "");
  CHECK(card["engine_commit"] == app::engine_commit());

  std::string dir = std::string(ENGINE_BINARY_DIR) + "/test_model_card";
  fs::remove_all(dir);
  fs::create_directories(dir);
  io::save_safetensors(dir + "/m.safetensors", {{"w", Tensor::ones({2})}}, card);
  app::TrainConfig back = app::config_from_checkpoint(dir + "/m.safetensors", {"training.eval_batch_size=7"});
  CHECK(back.data.dataset == "cifar10");
  CHECK(back.model.width_mult == 0.5);
  CHECK(back.training.lr == 0.025);
  CHECK(back.moe.placement == std::vector<std::string>{"layer4"});
  CHECK(back.training.eval_batch_size == 7);

  // A checkpoint without the card (older, or from elsewhere) names itself and the way out.
  io::save_safetensors(dir + "/old.safetensors", {{"w", Tensor::ones({2})}}, {{"epoch", "3"}});
  CHECK_THROWS_WITH(app::config_from_checkpoint(dir + "/old.safetensors", {}),
                    Catch::Contains("old.safetensors' carries no configuration") && Catch::Contains("--config"));
  // A damaged card is a configuration error too, not a crash.
  io::save_safetensors(dir + "/bad.safetensors", {{"w", Tensor::ones({2})}}, {{"config", "{\"model\": [1,"}});
  CHECK_THROWS_AS(app::config_from_checkpoint(dir + "/bad.safetensors", {}), io::ConfigError);
  fs::remove_all(dir);
}
