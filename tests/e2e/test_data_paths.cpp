// The device-resident data path and checkpointed stages change nothing in a CPU run: the
// same batches (bit-identical augmentation) and the same gradients give the same metrics
// and weights as the plain run.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/trainer.h"
#include "engine/io/safetensors.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

app::TrainResult run(const std::string& name, std::vector<std::string> sets) {
  std::string dir = testing::fresh_scratch_dir(name);
  std::ofstream(dir + "/config.json") << R"({"device": "cpu", "output": {"dir": ")" << dir
                                      << R"(/runs", "log_every": 1000}})";
  for (const char* s :
       {"data.train_limit=512", "data.test_limit=256", "model.width_mult=0.0625", "training.epochs=2",
        "training.batch_size=64", "data.augment.crop_padding=2", "data.augment.hflip=true", "data.augment.cutout=8"})
    sets.push_back(s);
  std::ostringstream out;
  return app::Trainer(app::load_train_config(dir + "/config.json", sets, nullptr), "", out).run();
}

}  // namespace

TEST_CASE("gpu_resident data and checkpoint_stages leave a CPU run's results unchanged", "[e2e]") {
  app::TrainResult plain = run("paths_plain", {});
  app::TrainResult resident = run("paths_resident", {"data.gpu_resident=true"});
  app::TrainResult ck = run("paths_checkpoint", {"model.checkpoint_stages=[1,2,3,4]"});
  auto rp = testing::read_csv(plain.run_dir + "/metrics.csv");
  REQUIRE(rp.size() == 3);
  io::SafetensorsData mp = io::load_safetensors(plain.run_dir + "/checkpoints/last.safetensors");
  for (const app::TrainResult* other : {&resident, &ck}) {
    INFO(other->run_dir);
    CHECK(other->steps == plain.steps);
    auto ro = testing::read_csv(other->run_dir + "/metrics.csv");
    REQUIRE(ro.size() == rp.size());
    for (size_t i = 1; i < rp.size(); ++i)
      for (size_t col : {0, 1, 2, 3, 4, 5, 6, 7}) {  // all but img/s, wall seconds and validation
        INFO("epoch " << i << " column " << rp[0][col]);
        CHECK(rp[i][col] == ro[i][col]);
      }
    io::SafetensorsData mo = io::load_safetensors(other->run_dir + "/checkpoints/last.safetensors");
    CHECK(mp.at("fc.weight").to_vector() == mo.at("fc.weight").to_vector());
    CHECK(mp.at("layer1.0.bn1.running_mean").to_vector() == mo.at("layer1.0.bn1.running_mean").to_vector());
  }
}
