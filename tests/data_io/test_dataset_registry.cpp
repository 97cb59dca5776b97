// The dataset registry: the names the config accepts, each dataset's normalisation,
// image shape and classes without reading a file, and an unknown name's message.
#include "data/registry.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;
using Catch::Contains;

TEST_CASE("the dataset registry lists the datasets with their shapes and normalisation") {
  CHECK(dataset_names() == std::vector<std::string>{"fashion_mnist", "cifar10", "cifar100"});
  for (const std::string& name : dataset_names()) {
    std::vector<int64_t> chw = dataset_image_shape(name);
    REQUIRE(chw.size() == 3);
    Normalization n = dataset_normalization(name);
    CHECK(int64_t(n.mean.size()) == chw[0]);
    CHECK(int64_t(n.std.size()) == chw[0]);
    CHECK_NOTHROW(check_normalization(n, chw[0]));
  }
  CHECK(dataset_image_shape("fashion_mnist") == std::vector<int64_t>{1, 28, 28});
  CHECK(dataset_image_shape("cifar10") == std::vector<int64_t>{3, 32, 32});
  DatasetSpec s{"cifar100", "", "coarse"};
  CHECK(dataset_num_classes(s) == 20);
  s.cifar100_labels = "fine";
  CHECK(dataset_num_classes(s) == 100);
  CHECK(dataset_num_classes({"cifar10", "", "fine"}) == 10);
}

TEST_CASE("an unknown dataset name is an error that lists the known ones") {
  CHECK_THROWS_WITH(dataset_normalization("mnist"), Contains("unknown dataset \"mnist\"") && Contains("\"cifar10\""));
  CHECK_THROWS_WITH(load_dataset({"svhn", "", "fine"}), Contains("\"svhn\""));
}

TEST_CASE("a dataset is loaded from the spec's path, and a missing directory is named") {
  CHECK_THROWS_WITH(load_dataset({"cifar10", "/nonexistent/cifar", "fine"}), Contains("/nonexistent/cifar"));
}
