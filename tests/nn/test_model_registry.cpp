// The model registry: the names it builds, that a name builds the model the spec
// describes, that a registered factory is found, and an unknown name's message.
#include "models/registry.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;
using namespace engine::models;
using Catch::Contains;

TEST_CASE("the model registry builds resnet18 and resnet18_moe from a spec") {
  std::vector<std::string> names = model_names();
  REQUIRE(names.size() >= 2);
  CHECK(names[0] == "resnet18");
  CHECK(names[1] == "resnet18_moe");
  ModelSpec spec;
  spec.resnet.in_channels = 1;
  spec.resnet.num_classes = 7;
  spec.resnet.width_mult = 0.125;
  auto dense = build_model("resnet18", spec);
  REQUIRE(dynamic_cast<ResNet*>(dense.get()));
  CHECK(static_cast<ResNet&>(*dense).config().num_classes == 7);
  spec.placement = {"layer4"};
  spec.moe.num_experts = 2;
  auto moe = build_model("resnet18_moe", spec);
  auto* net = dynamic_cast<ResNetMoE*>(moe.get());
  REQUIRE(net);
  CHECK(net->after_stage[3] != nullptr);
  CHECK(net->after_stage[2] == nullptr);
}

TEST_CASE("a registered model is built by its name and an unknown name lists the known ones") {
  register_model("tiny_resnet", [](const ModelSpec& s) {
    ResNetConfig c = s.resnet;
    c.blocks = {1, 1, 1, 1};
    return std::make_shared<ResNet>(c);
  });
  ModelSpec spec;
  spec.resnet.width_mult = 0.125;
  auto m = build_model("tiny_resnet", spec);
  REQUIRE(dynamic_cast<ResNet*>(m.get()));
  CHECK(static_cast<ResNet&>(*m).config().blocks == std::vector<int64_t>{1, 1, 1, 1});
  CHECK_THROWS_WITH(build_model("vgg16", spec), Contains("unknown model \"vgg16\"") && Contains("\"resnet18\""));
}
