// training.cuda_graph: off by default, read from the config, and refused with a
// configuration error (nothing written) where a graph cannot hold the step.
#include <filesystem>
#include <sstream>

#include "apps/common/train_config.h"
#include "apps/common/trainer.h"
#include "engine/core/backend.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

TEST_CASE("training.cuda_graph: default, value, and the runs it refuses", "[config]") {
  app::TrainConfig c = app::parse_train_config(app::default_train_config());
  CHECK_FALSE(c.training.cuda_graph);
  io::Json j = app::default_train_config();
  j["training"]["cuda_graph"] = true;
  j["device"] = "cpu";
  j["data"]["dataset"] = "fashion_mnist";
  j["training"]["max_steps"] = 1;
  std::string out_dir = std::string(ENGINE_BINARY_DIR) + "/test_cuda_graph_config_runs";
  fs::remove_all(out_dir);
  j["output"]["dir"] = out_dir;
  c = app::parse_train_config(j);
  CHECK(c.training.cuda_graph);

  std::string message;
  std::ostringstream log;
  try {
    app::Trainer(c, "", log).run();
  } catch (const io::ConfigError& e) {
    message = e.message();
  } catch (const Error& e) {
    // Without the Fashion-MNIST files the data error comes first; the check below fails then.
    message = e.message();
  }
  CHECK(message.find("training.cuda_graph needs a CUDA device") != std::string::npos);
  CHECK_FALSE(fs::exists(out_dir));
}
