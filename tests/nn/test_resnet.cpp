// ResNet-18: parameter count, torchvision names, output shapes.
#include "engine/core/generator.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("ResNet-18 for CIFAR-10 has 11,173,962 parameters and torchvision names", "[model]") {
  manual_seed(0);
  models::ResNet net(models::ResNetConfig{});
  CHECK(net.num_parameters() == 11173962);
  auto sd = net.state_dict();
  std::vector<std::string> names;
  for (auto& [n, t] : sd) names.push_back(n);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  CHECK(names.front() == "conv1.weight");
  CHECK(names.back() == "fc.bias");
  for (const char* n :
       {"bn1.running_mean", "layer1.0.conv1.weight", "layer1.1.bn2.num_batches_tracked", "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var", "layer4.1.conv2.weight", "fc.weight"})
    CHECK(has(n));
  CHECK_FALSE(has("layer1.0.downsample.0.weight"));
  // 62 parameter tensors, 60 BN buffers (3 per BN x 20 BNs): 122 entries like torchvision.
  CHECK(sd.size() == 122);
}

TEST_CASE("ResNet forward shapes for CIFAR and Fashion-MNIST inputs", "[model]") {
  manual_seed(0);
  models::ResNetConfig c;
  c.width_mult = 0.125;
  c.in_channels = 1;
  models::ResNet net(c);
  Variable y = net(Variable(ops::randn({2, 1, 28, 28}, 1, 0)));
  CHECK(y.shape() == Shape{2, 10});
  CHECK_THROWS_WITH(net(Variable(Tensor::zeros({2, 3, 28, 28}))), Catch::Contains("expected images [N, 1, H, W]"));
  c.in_channels = 3;
  c.num_classes = 100;
  c.zero_init_residual = true;
  models::ResNet net3(c);
  CHECK(net3(Variable(ops::randn({1, 3, 32, 32}, 2, 0))).shape() == Shape{1, 100});
  CHECK(net3.layers[0]->named_parameters()[0].first == "0.conv1.weight");
  for (auto& [n, p] : net3.named_parameters())
    if (n.find("bn2.weight") != std::string::npos) CHECK(ops::sum(ops::mul(p.data(), p.data())).item() == 0.0);
}
