// The conformance suite of bnharness, run from this project's own GoogleTest suite.
#include <gtest/gtest.h>

#include <bnh/plugin_loader.hpp>
#include <properties/conformance.hpp>

TEST(MyBatchnorm, HoldsEveryProperty) {
  const auto implementation = bnh::load_plugin(MY_BATCHNORM_PLUGIN);
  bnh::ConformanceOptions options;
  options.cases = 50;
  const bnh::ConformanceResult result = bnh::run_conformance(*implementation, options);
  for (const auto& property : result.properties) {
    EXPECT_NE(property.status, bnh::PropertyResult::Status::failed)
        << property.property << "\n  counterexample: " << property.counterexample << "\n  "
        << property.failure;
  }
}
