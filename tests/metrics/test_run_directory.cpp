// app::RunDirectory without training: the directory's name and files, a checkpoint's
// step and best accuracy, metrics.csv with the optional column groups, and resuming
// from what it wrote.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "apps/common/run_directory.h"
#include "apps/common/run_index.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

app::TrainConfig config_in(const std::string& dir) {
  io::Json j = app::default_train_config();
  j["name"] = "unit";
  j["output"]["dir"] = dir;
  return app::parse_train_config(j);
}

// What a RunDirectory saves: a small model, its optimizer and a loss scaler (off).
struct Trained {
  nn::Linear model{3, 2};
  optim::SGD opt{optim::make_param_entries(model.named_parameters(), 0.0, false), optim::SgdOptions{}};
  optim::GradScaler scaler{optim::GradScalerOptions{}};
};

app::MetricsRow row(int64_t epoch, double test_acc) {
  return {epoch, 0.1, 1.5, 0.4, 1.2, test_acc, 1.2, 0.05, 100, 2.0 * double(epoch), NAN, NAN, {}, {3, 1024}};
}

}  // namespace

TEST_CASE("RunDirectory writes the run's files and resumes from its last checkpoint") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  nn::Linear model(3, 2);
  optim::SGD opt(optim::make_param_entries(model.named_parameters(), 0.0, false), optim::SgdOptions{});
  optim::GradScalerOptions so;
  so.enabled = true;  // f16: its state goes into last_optim.safetensors, its columns into metrics.csv
  optim::GradScaler scaler(so);
  std::ostringstream out;
  std::string path;
  {
    app::RunDirectory run(c, "", out);
    path = run.path();
    CHECK(path.rfind(base + "/fashion_mnist/unit-", 0) == 0);
    CHECK(fs::exists(path + "/config.json"));
    CHECK(run.last_checkpoint_or_none() == "(none yet)");
    run.say("hello");
    run.add_epoch(row(1, 0.5));
    run.save_epoch(10, model, opt, scaler, {});
    run.add_epoch(row(2, 0.4));  // worse: best.safetensors stays epoch 1's
    run.save_epoch(20, model, opt, scaler, {});
    CHECK(run.last_checkpoint_or_none() == path + "/checkpoints/last.safetensors");
    // The published epoch is one folder; best is a second name of epoch 1's model.
    CHECK(fs::read_symlink(path + "/checkpoints/last") == "epoch-000002");
    CHECK_FALSE(fs::exists(path + "/checkpoints/epoch-000001"));
    CHECK(fs::hard_link_count(path + "/checkpoints/epoch-000002/best.safetensors") == 1);
    CHECK(fs::exists(path + "/events.out.tfevents.epoch-000001"));
    CHECK(fs::exists(path + "/events.out.tfevents.epoch-000002"));
    // A second process on the same run is refused while this one holds it.
    try {
      app::RunDirectory other(c, path, out);
      FAIL("a second RunDirectory on a run in use was allowed");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("is in use by another process") != std::string::npos);
    }
  }
  CHECK(out.str() == "hello\n");
  CHECK(testing::read_text(path + "/train.log") == "hello\n");
  io::SafetensorsData last = io::load_safetensors(path + "/checkpoints/last.safetensors");
  io::SafetensorsData best = io::load_safetensors(path + "/checkpoints/best.safetensors");
  io::SafetensorsData opt_state = io::load_safetensors(path + "/checkpoints/last_optim.safetensors");
  CHECK(last.metadata["epoch"] == "2");
  CHECK(last.metadata["step"] == "20");
  CHECK(opt_state.metadata["step"] == "20");
  CHECK(std::stod(last.metadata["best_test_acc"]) == Approx(0.5));
  CHECK(best.metadata["epoch"] == "1");
  std::string csv = testing::read_text(path + "/metrics.csv");
  CHECK(csv.rfind("epoch,lr,train_loss,train_acc,test_loss,test_acc,test_nll,test_ece,img_per_s,wall_s,val_acc,"
                  "val_nll,skipped_steps,loss_scale\n1,0.1,1.5,0.4,1.2,0.5,1.2,0.05,100,2,,,3,1024\n",
                  0) == 0);

  // Resuming reads the rows back up to the checkpoint's epoch and its position.
  nn::Linear again(3, 2);
  optim::SGD opt2(optim::make_param_entries(again.named_parameters(), 0.0, false), optim::SgdOptions{});
  optim::GradScaler scaler2(so);
  app::RunDirectory resumed(c, path, out);
  app::RunDirectory::Position at = resumed.resume(again, opt2, scaler2, Device::cpu());
  CHECK(at.epoch == 2);
  CHECK(at.step == 20);
  REQUIRE(resumed.rows().size() == 2);
  CHECK(resumed.rows()[1].test_acc == Approx(0.4));
  CHECK(std::isnan(resumed.rows()[1].val_acc));
  CHECK(resumed.rows()[1].amp == std::vector<double>{3, 1024});
  CHECK(again.weight.data().to_vector() == model.weight.data().to_vector());
}

TEST_CASE("runs started together get one run directory each", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory_concurrent";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  constexpr int kRuns = 8;
  std::vector<std::string> paths(kRuns);
  std::vector<std::thread> threads;
  std::vector<std::ostringstream> outs(kRuns);
  for (int i = 0; i < kRuns; ++i)
    threads.emplace_back([&, i] { paths[size_t(i)] = app::RunDirectory(c, "", outs[size_t(i)]).path(); });
  for (auto& t : threads) t.join();
  std::set<std::string> distinct(paths.begin(), paths.end());
  CHECK(distinct.size() == size_t(kRuns));
  for (const auto& p : paths) CHECK(fs::exists(p + "/config.json"));
  fs::remove_all(base);
}

TEST_CASE("a run name that is not a plain directory name is refused", "[metrics]") {
  io::Json j = app::default_train_config();
  for (const char* bad : {"../escape", "a/b", "..", ".hidden", "tab\tname", "x\\y"}) {
    j["name"] = bad;
    INFO(bad);
    CHECK_THROWS_AS(app::parse_train_config(j), io::ConfigError);
  }
  j["name"] = std::string(101, 'a');
  CHECK_THROWS_AS(app::parse_train_config(j), io::ConfigError);
  j["name"] = "resnet18_moe-v2.1";
  CHECK(app::parse_train_config(j).name == "resnet18_moe-v2.1");
}

namespace {

// Every path under `dir` with its bytes (links as "-> target").
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_symlink())
      files[rel] = "-> " + fs::read_symlink(e.path()).string();
    else if (e.is_regular_file())
      files[rel] = testing::read_text(e.path().string());
    else
      files[rel] = "(folder)";
  }
  return files;
}

}  // namespace

TEST_CASE("a resume that does not fit the checkpoint changes nothing in the run directory", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory_refused";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  Trained trained;
  nn::Linear& model = trained.model;
  optim::SGD& opt = trained.opt;
  optim::GradScaler& scaler = trained.scaler;
  std::ostringstream out;
  std::string path;
  {
    app::RunDirectory run(c, "", out);
    path = run.path();
    run.say("first");
    run.add_epoch(row(1, 0.5));
    run.save_epoch(10, model, opt, scaler, {});
  }
  auto before = snapshot(path);
  // Another model shape (as a --set model.width_mult would give) and another config.
  io::Json j = c.json;
  j["training"]["lr"] = 0.5;
  app::TrainConfig changed = app::parse_train_config(j);
  nn::Linear wider(3, 4);
  optim::SGD opt2(optim::make_param_entries(wider.named_parameters(), 0.0, false), optim::SgdOptions{});
  {
    app::RunDirectory resumed(changed, path, out);
    CHECK_THROWS_AS(resumed.resume(wider, opt2, scaler, Device::cpu()), Error);
  }
  CHECK(snapshot(path) == before);
  // A checkpoint whose metadata was edited is refused with the key named, also changing nothing.
  std::string ckpt = path + "/checkpoints/epoch-000001/model.safetensors";
  io::SafetensorsData d = io::load_safetensors(ckpt);
  io::NamedTensors t;
  for (const auto& n : d.order) t.emplace_back(n, d.at(n));
  d.metadata["step"] = "12x";
  io::save_safetensors(ckpt, t, d.metadata);
  before = snapshot(path);
  {
    app::RunDirectory resumed(c, path, out);
    try {
      resumed.resume(model, opt, scaler, Device::cpu());
      FAIL("an edited step was accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("metadata 'step' = '12x' is not a whole number") != std::string::npos);
    }
  }
  CHECK(snapshot(path) == before);
  fs::remove_all(base);
}

TEST_CASE("resuming removes what no published epoch owns and restores what the publish left undone", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory_tidy";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  Trained trained;
  nn::Linear& model = trained.model;
  optim::SGD& opt = trained.opt;
  optim::GradScaler& scaler = trained.scaler;
  std::ostringstream out;
  std::string path;
  app::EpochFiles moe;
  moe.own.push_back({"moe_expert_class_epoch1.csv", "layer,expert\n"});
  moe.rows.push_back({"moe_layers.csv", "epoch,layer\n", "1,layer4\n"});
  moe.events = [](metrics::EventFileBuilder& b) { b.add_scalar("moe/layer4/utilisation", 0.75); };
  {
    app::RunDirectory run(c, "", out);
    path = run.path();
    run.add_epoch(row(1, 0.5));
    run.save_epoch(10, model, opt, scaler, {}, moe);
  }
  auto published = snapshot(path);
  // What a kill during epoch 2 leaves, and a derived file of epoch 1 lost after its commit.
  fs::create_directories(path + "/checkpoints/epoch-000002");
  std::ofstream(path + "/checkpoints/epoch-000002/model.safetensors") << "partial";
  std::ofstream(path + "/.config.json.tmp.123.0") << "{";
  std::ofstream(path + "/checkpoints/epoch-000002/.optim.safetensors.tmp.123.1") << "x";
  std::ofstream(path + "/events.out.tfevents.epoch-000002") << "x";
  std::ofstream(path + "/moe_expert_class_epoch2.csv") << "x";
  fs::create_symlink("epoch-000002", path + "/checkpoints/.last.tmp");
  fs::remove(path + "/events.out.tfevents.epoch-000001");
  fs::remove(path + "/moe_expert_class_epoch1.csv");
  fs::remove(path + "/metrics.csv");
  {
    app::RunDirectory resumed(c, path, out);
    app::RunDirectory::Position at = resumed.resume(model, opt, scaler, Device::cpu());
    CHECK(at.epoch == 1);
    CHECK(at.step == 10);
  }
  auto now = snapshot(path);
  // The published epoch's event file comes back byte for byte from its folder, extras included.
  CHECK(now == published);
  CHECK(testing::read_text(path + "/events.out.tfevents.epoch-000001").find("moe/layer4/utilisation") !=
        std::string::npos);
  CHECK(testing::read_text(path + "/moe_layers.csv") == "epoch,layer\n1,layer4\n");
  fs::remove_all(base);
}

TEST_CASE("a run stopped before its first epoch resumes from the start", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory_unpublished";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  Trained trained;
  nn::Linear& model = trained.model;
  optim::SGD& opt = trained.opt;
  optim::GradScaler& scaler = trained.scaler;
  std::ostringstream out;
  std::string path = app::RunDirectory(c, "", out).path();
  fs::create_directories(path + "/checkpoints/epoch-000001");  // killed while publishing epoch 1
  app::RunDirectory resumed(c, path, out);
  app::RunDirectory::Position at = resumed.resume(model, opt, scaler, Device::cpu());
  CHECK(at.epoch == 0);
  CHECK(at.step == 0);
  CHECK(resumed.rows().empty());
  CHECK_FALSE(fs::exists(path + "/checkpoints/epoch-000001"));
  fs::remove_all(base);
}

TEST_CASE("a run whose published link was removed or copied as a folder is refused, not started over", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_directory_nolink";
  fs::remove_all(base);
  app::TrainConfig c = config_in(base);
  Trained trained;
  nn::Linear& model = trained.model;
  optim::SGD& opt = trained.opt;
  optim::GradScaler& scaler = trained.scaler;
  std::ostringstream out;
  std::string path;
  {
    app::RunDirectory run(c, "", out);
    path = run.path();
    for (int e = 1; e <= 2; ++e) {
      run.add_epoch(row(e, 0.5));
      run.save_epoch(10 * e, model, opt, scaler, {});
    }
  }
  std::string last = path + "/checkpoints/last";
  fs::remove(last);
  auto before = snapshot(path);
  CHECK_THROWS_WITH(app::RunDirectory(c, path, out),
                    Catch::Contains("is missing but") && Catch::Contains("epoch-000002"));
  fs::create_directory(last);  // what copying with links followed leaves
  CHECK_THROWS_WITH(app::RunDirectory(c, path, out), Catch::Contains("is not a symbolic link"));
  fs::remove(last);
  CHECK(snapshot(path) == before);
  fs::remove_all(base);
}

TEST_CASE("report_app's run list tells running, finished, failed and interrupted runs apart", "[metrics]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_run_index";
  fs::remove_all(base);
  Trained trained;
  nn::Linear& model = trained.model;
  optim::SGD& opt = trained.opt;
  optim::GradScaler& scaler = trained.scaler;
  std::ostringstream out;
  auto make = [&](const std::string& name, int epochs) {
    io::Json j = app::default_train_config();
    j["name"] = name;
    j["output"]["dir"] = base;
    auto run = std::make_unique<app::RunDirectory>(app::parse_train_config(j), "", out);
    for (int e = 1; e <= epochs; ++e) {
      run->add_epoch(row(e, 0.1 * e));
      run->save_epoch(10 * e, model, opt, scaler, {});
    }
    return run;
  };
  make("done", 2)->finish("finished");
  make("broken", 1)->finish("failed", "training stopped: the loss is nan at step 12");
  make("killed", 1);
  auto running = make("busy", 1);  // holds its lock while the list is taken
  std::vector<app::RunStatus> runs = app::list_runs(base);
  REQUIRE(runs.size() == 4);
  std::map<std::string, app::RunStatus> by_name;
  for (const auto& r : runs) by_name[r.name] = r;
  CHECK(by_name["done"].state == "finished");
  CHECK(by_name["done"].epochs_done == 2);
  CHECK(by_name["done"].best_test_acc == Approx(0.2));
  CHECK(by_name["broken"].state == "failed");
  CHECK(by_name["broken"].error == "training stopped: the loss is nan at step 12");
  CHECK(by_name["killed"].state == "interrupted");
  CHECK(by_name["busy"].state == "running");
  std::string table = app::runs_table(runs);
  CHECK(table.find("interrupted at epoch 1") != std::string::npos);
  CHECK(table.find("the loss is nan at step 12") != std::string::npos);
  running.reset();
  CHECK(app::run_status(by_name["busy"].dir).state == "interrupted");
  // Resuming a finished or failed run clears its status until it ends again.
  {
    io::Json j = app::default_train_config();
    j["name"] = "broken";
    j["output"]["dir"] = base;
    app::RunDirectory resumed(app::parse_train_config(j), by_name["broken"].dir, out);
    resumed.resume(model, opt, scaler, Device::cpu());
    CHECK_FALSE(fs::exists(by_name["broken"].dir + "/status.json"));
  }
  fs::remove_all(base);
}
