// train_app <config.json> [--set a.b.c=value ...]
// train_app --resume <run_dir> [--set ...]
// train_app --print-defaults [--describe | --markdown]
// Trains a model from a JSON config (see configs/ and README). Configuration errors
// exit with code 2 before anything is written; other errors exit with code 1.
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/config_schema.h"
#include "apps/common/trainer.h"
#include "engine/dist/communicator.h"

extern char** environ;

namespace {

int usage(const char* msg) {
  std::cerr << "train_app: " << msg << "\n"
            << "usage: train_app <config.json> [--set key.path=value ...]\n"
            << "       train_app --resume <run_dir> [--set key.path=value ...]\n"
            << "       train_app --print-defaults [--describe | --markdown]\n"
            << "Environment overrides: ENGINE_CONFIG_<SECTION>_<key>=value, e.g. ENGINE_CONFIG_TRAINING_lr=0.05\n"
            << "--print-defaults prints the default configuration as JSON (a config file to start from);\n"
            << "  with --describe, each key's default, values and description as JSON; with --markdown,\n"
            << "  the same as the Markdown table of README.md\n";
  return 2;
}

// --print-defaults, alone or with one of --describe and --markdown, and nothing else.
int run_print_defaults(const std::vector<std::string>& flags, bool other_arguments) {
  using engine::app::DefaultsFormat;
  bool print = false, describe = false, markdown = false;
  for (const auto& f : flags) {
    print |= f == "--print-defaults";
    describe |= f == "--describe";
    markdown |= f == "--markdown";
  }
  if (!print) return usage((flags.front() + " goes with --print-defaults").c_str());
  if (describe && markdown) return usage("give --describe or --markdown, not both");
  if (other_arguments) return usage("--print-defaults takes no config file, --resume or --set");
  engine::app::print_defaults(std::cout, describe   ? DefaultsFormat::Describe
                                         : markdown ? DefaultsFormat::Markdown
                                                    : DefaultsFormat::Config);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace engine;
  std::string config_path, resume_dir;
  std::vector<std::string> sets, print_flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--print-defaults" || a == "--describe" || a == "--markdown") {
      print_flags.push_back(a);
    } else if (a == "--set" && i + 1 < argc) {
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
  if (!print_flags.empty())
    return run_print_defaults(print_flags, !config_path.empty() || !resume_dir.empty() || !sets.empty());
  if (!resume_dir.empty()) {
    if (!config_path.empty()) return usage("give either a config file or --resume <run_dir>, not both");
    config_path = resume_dir + "/config.json";
    struct stat st;
    if (::stat(resume_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::cerr << "train_app: --resume " << resume_dir << ": no such run directory\n";
      return 2;
    }
    if (::stat(config_path.c_str(), &st) != 0) {
      std::cerr << "train_app: --resume " << resume_dir << ": the run directory has no config.json: the run was "
                << "stopped while it was being created, before its first step, so there is nothing to resume; "
                << "start it again from its config file\n";
      return 2;
    }
  }
  if (config_path.empty()) return usage("no config file given");
  // Under mpirun every process is one rank (docs/DISTRIBUTED.md); a rank that fails ends
  // the others through MPI_Abort rather than leaving them waiting in a collective.
  std::unique_ptr<dist::Session> session;
  int rc = app::run_guarded("train_app", [&] {
    session = std::make_unique<dist::Session>(&argc, &argv);
    return 0;
  });
  if (rc != 0) return rc;
  dist::Communicator& comm = dist::world();
  std::string name = comm.size() > 1
                         ? "train_app (rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) + ")"
                         : std::string("train_app");
  std::ostream nowhere(nullptr);
  std::ostream& out = comm.rank() == 0 ? std::cout : nowhere;  // rank 0 alone prints
  rc = app::run_guarded(name.c_str(), [&] {
    std::vector<std::string> env;
    app::TrainConfig cfg = app::load_train_config(config_path, sets, environ, &env);
    for (const auto& e : env) out << "override from environment: " << e << "\n";
    out << "effective config:\n" << cfg.json.dump(2) << std::endl;
    app::TrainResult r = app::Trainer(cfg, resume_dir, out).run();
    out << "done: " << r.epochs_done << " epochs, " << r.steps << " steps, test accuracy " << r.test_accuracy
        << ", NLL " << r.test_nll << ", ECE " << r.test_ece << "\nrun directory: " << r.run_dir << std::endl;
    return 0;
  });
  if (rc != 0 && comm.size() > 1)
    comm.abort(name + ": stopped with exit code " + std::to_string(rc) + "; ending the run's other ranks", rc);
  return rc;
}
