// eval_app <run_dir | checkpoint.safetensors> [--config config.json] [--data DIR] [--bins N] [--out FILE]
// Evaluates a trained model on its test set: accuracy, NLL, ECE, MCE, and a
// per-sample predictions file (index, label, prediction, confidence, probabilities).
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/common/trainer.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  using namespace engine;
  std::string target, config_path, data_dir, out_path;
  int bins = 15;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "eval_app: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") {
      config_path = value();
    } else if (a == "--data") {
      data_dir = value();
    } else if (a == "--bins") {
      bins = std::atoi(value().c_str());
    } else if (a == "--out") {
      out_path = value();
    } else if (!a.empty() && a[0] != '-' && target.empty()) {
      target = a;
    } else {
      std::cerr << "eval_app: unexpected argument '" << a << "'\n"
                << "usage: eval_app <run_dir | checkpoint.safetensors> [--config config.json] [--data DIR] "
                   "[--bins N] [--out predictions.csv]\n";
      return 2;
    }
  }
  if (target.empty()) {
    std::cerr << "usage: eval_app <run_dir | checkpoint.safetensors> [--config config.json] [--data DIR] [--bins N] "
                 "[--out predictions.csv]\n";
    return 2;
  }
  try {
    std::string ckpt = target, run_dir;
    if (fs::is_directory(target)) {
      run_dir = target;
      ckpt = target + "/checkpoints/best.safetensors";
      if (!fs::exists(ckpt)) ckpt = target + "/checkpoints/last.safetensors";
    } else {
      run_dir = fs::path(target).parent_path().parent_path().string();
    }
    if (config_path.empty()) config_path = run_dir + "/config.json";
    std::vector<std::string> sets;
    if (!data_dir.empty()) sets.push_back("data.path=" + io::Json(data_dir).dump());
    app::TrainConfig cfg = app::load_train_config(config_path, sets, nullptr);
    ENGINE_CONFIG_CHECK(bins >= 1 && bins <= 1000, "--bins " << bins << " is out of range: expected 1..1000");
    Device device = app::resolve_device(cfg.device);
    app::Datasets ds = app::load_datasets(cfg);
    auto model = app::build_model(cfg, ds.train);
    io::SafetensorsData sd = io::load_safetensors(ckpt);
    std::vector<std::pair<std::string, Tensor>> state;
    for (const auto& n : sd.order) state.emplace_back(n, sd.tensors.at(n));
    model->load_state_dict(state);
    model->to(device);
    Tensor probs;
    metrics::ClassificationStats s = app::evaluate(*model, ds.test, cfg, device, bins, &probs);
    std::cout << std::fixed << std::setprecision(4) << "checkpoint " << ckpt << "\n"
              << "test images " << s.count() << ": accuracy " << s.accuracy() << ", NLL " << s.nll() << ", ECE ("
              << bins << " bins) " << s.ece() << ", MCE " << s.mce() << std::endl;
    if (out_path.empty()) out_path = (run_dir.empty() ? std::string(".") : run_dir) + "/predictions.csv";
    std::ostringstream o;
    int64_t n = probs.size(0), c = probs.size(1);
    o << "index,label,prediction,confidence";
    for (int64_t k = 0; k < c; ++k) o << ",p" << k;
    o << "\n" << std::setprecision(6);
    const float* p = probs.data<float>();
    std::vector<double> labels = ds.test.labels.to_vector();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = p + i * c;
      int64_t pred = int64_t(std::max_element(row, row + c) - row);
      o << i << "," << int64_t(labels[size_t(i)]) << "," << pred << "," << row[pred];
      for (int64_t k = 0; k < c; ++k) o << "," << row[k];
      o << "\n";
    }
    io::write_file_atomic(out_path, o.str());
    std::cout << "predictions: " << out_path << std::endl;
    return 0;
  } catch (const io::ConfigError& e) {
    std::cerr << "eval_app: configuration error: " << e.message() << std::endl;
    return 2;
  } catch (const Error& e) {
    std::cerr << "eval_app: error: " << e.message() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "eval_app: error: " << e.what() << std::endl;
    return 1;
  }
}
