// train_app <config.json> [--set a.b.c=value ...]
// train_app --resume <run_dir> [--set ...]
// Trains a model from a JSON config (see configs/ and README). Configuration errors
// exit with code 2 before anything is written; other errors exit with code 1.
#include <iostream>
#include <string>
#include <vector>

#include "apps/common/trainer.h"

extern char** environ;

namespace {

int usage(const char* msg) {
  std::cerr << "train_app: " << msg << "\n"
            << "usage: train_app <config.json> [--set key.path=value ...]\n"
            << "       train_app --resume <run_dir> [--set key.path=value ...]\n"
            << "Environment overrides: ENGINE_CONFIG_<SECTION>_<key>=value, e.g. ENGINE_CONFIG_TRAINING_lr=0.05\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace engine;
  std::string config_path, resume_dir;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--set" && i + 1 < argc) {
      sets.push_back(argv[++i]);
    } else if (a.rfind("--set=", 0) == 0) {
      sets.push_back(a.substr(6));
    } else if (a == "--resume" && i + 1 < argc) {
      resume_dir = argv[++i];
    } else if (a == "-h" || a == "--help") {
      usage("train a model from a JSON config");
      return 0;
    } else if (a == "--set" || a == "--resume") {
      return usage(
          ("option " + a + " needs a value (" + (a == "--set" ? "key.path=value" : "a run directory") + ")").c_str());
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option '" + a + "'").c_str());
    } else if (config_path.empty()) {
      config_path = a;
    } else {
      return usage(("unexpected argument '" + a + "'").c_str());
    }
  }
  if (!resume_dir.empty()) {
    if (!config_path.empty()) return usage("give either a config file or --resume <run_dir>, not both");
    config_path = resume_dir + "/config.json";
  }
  if (config_path.empty()) return usage("no config file given");
  try {
    std::vector<std::string> env;
    app::TrainConfig cfg = app::load_train_config(config_path, sets, environ, &env);
    for (const auto& e : env) std::cout << "override from environment: " << e << "\n";
    std::cout << "effective config:\n" << cfg.json.dump(2) << std::endl;
    app::TrainResult r = app::Trainer(cfg, resume_dir, std::cout).run();
    std::cout << "done: " << r.epochs_done << " epochs, " << r.steps << " steps, test accuracy " << r.test_accuracy
              << ", NLL " << r.test_nll << ", ECE " << r.test_ece << "\nrun directory: " << r.run_dir << std::endl;
    return 0;
  } catch (const io::ConfigError& e) {
    std::cerr << "train_app: configuration error: " << e.message() << std::endl;
    return 2;
  } catch (const Error& e) {
    std::cerr << "train_app: error: " << e.message() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "train_app: error: " << e.what() << std::endl;
    return 1;
  }
}
