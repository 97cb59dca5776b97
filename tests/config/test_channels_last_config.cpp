// model.channels_last: off by default, read from the config, checked for its type, and
// the trainer's batch conversion it switches on.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "apps/common/train_config.h"
#include "apps/common/trainer.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("model.channels_last: default, value, type check and the converted batch", "[config]") {
  app::TrainConfig c = app::parse_train_config(app::default_train_config());
  CHECK_FALSE(c.model.channels_last);
  Tensor images = testing::randn64({2, 3, 8, 8}, 1).to(DType::f32);
  CHECK(app::model_input(images, c).shares_storage(images));

  io::Json j = app::default_train_config();
  j["model"]["channels_last"] = true;
  c = app::parse_train_config(j);
  CHECK(c.model.channels_last);
  Tensor x = app::model_input(images, c);
  CHECK(x.suggest_memory_format() == MemoryFormat::ChannelsLast);
  CHECK(x.to_vector() == images.to_vector());

  std::string path =
      std::string(ENGINE_BINARY_DIR) + "/test_config_channels_last_" + std::to_string(getpid()) + ".json";
  std::ofstream(path) << R"({"model": {"channels_last": "yes"}})";
  std::string message;
  try {
    app::load_train_config(path, {}, nullptr);
  } catch (const io::ConfigError& e) {
    message = e.message();
  }
  std::remove(path.c_str());
  CHECK(message.find("'model.channels_last' must be a boolean") != std::string::npos);
}
