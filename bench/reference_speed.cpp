// How fast the 50-digit reference is: batch-norm training forward plus backward, one core.
// Items are tensor elements, so items_per_second reads as elements per second.
#include <benchmark/benchmark.h>

#include <random>

#include "reference/reference.hpp"

namespace {

using namespace bnh;
using reference::Real;

template <typename Number>
void forward_backward(benchmark::State& state) {
  const TensorDesc desc{16, 8, state.range(0), state.range(0), Layout::nchw, DType::f32};
  std::mt19937_64 engine(1);
  std::normal_distribution<double> normal;
  std::vector<Number> x, dy, gamma(desc.c, Number(1.5)), beta(desc.c, Number(0.25));
  for (std::int64_t i = 0; i < desc.elements(); ++i) {
    x.emplace_back(normal(engine));
    dy.emplace_back(normal(engine));
  }
  const Params params;
  for (auto _ : state) {
    const auto forward = reference::bn_forward_train(desc, params, x, gamma, beta);
    const auto backward = reference::bn_backward(desc, params, dy, x, gamma, forward.save_mean,
                                                 forward.save_invstd);
    benchmark::DoNotOptimize(backward.dx.data());
  }
  state.SetItemsProcessed(state.iterations() * desc.elements());
}

BENCHMARK_TEMPLATE(forward_backward, Real)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(forward_backward, reference::MpfrReal<100>)->Arg(32)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
