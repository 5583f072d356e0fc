// Generated test cases. rapidcheck generates a CaseSpec — shape, layout, dtype, data regime,
// parameters and a data seed — and make_case() turns it into data deterministically. Shrinking
// therefore works on what a reader needs to see (smaller shapes, simpler regimes, plainer
// parameters, seed 0) rather than on thousands of individual floats, and a counterexample is a
// one-line spec that reproduces it exactly (bnh check --case "SPEC").
//
// Floats are built from integers and from std::mt19937_64 draws scaled per regime: rapidcheck
// has no ranged double generator and its arbitrary<double> never makes the values that matter
// here (huge, tiny, subnormal, exactly repeated).
#pragma once

#include <cstdint>
#include <string>

#include <rapidcheck.h>

#include "properties/case.hpp"

namespace bnh {

// Data regimes, from the simplest to the hardest; shrinking moves towards the first.
enum class Regime {
  exact_statistics,   // mean +- a in pairs, few-bit values: statistics exact in any order
  standard_normal,
  large_mean,         // mean up to 1e4 (f32) or 1e8 (f64) times the spread
  near_constant,      // spread a few units in the last place of the mean
  constant_channels,  // some channels exactly constant
  mixed_magnitudes,   // channels many orders of magnitude apart
  heavy_tails,        // a ratio of normals: rare huge values
  huge,               // sums of squares near (f32: beyond) the dtype's overflow
  tiny,               // subnormal data: the variance vanishes under eps
};
inline constexpr Regime all_regimes[] = {
    Regime::exact_statistics, Regime::standard_normal, Regime::large_mean,
    Regime::near_constant,    Regime::constant_channels, Regime::mixed_magnitudes,
    Regime::heavy_tails,      Regime::huge,              Regime::tiny};
const char* to_string(Regime regime);
Regime parse_regime(const std::string& text);

struct CaseSpec {
  TensorDesc desc{2, 1, 1, 1};
  Regime regime = Regime::exact_statistics;
  std::uint64_t data_seed = 0;
  int gamma_kind = 0;          // 0: gamma = 1, beta = 0; 1: random, including 0 and negative
  int running_kind = 0;        // 0: near the batch statistics (renorm unclipped); 1: far (clipped)
  double eps = 1e-5, momentum = 0.1, rmax = 3, dmax = 5;

  std::string to_string() const;            // "f32 nchw 2x3x4x5 regime=... seed=... ..."
  static CaseSpec parse(const std::string& text);  // inverse of to_string; throws bnh::Error
};

// The data of a spec. The same spec in NCHW and NHWC holds the same logical tensor.
Case make_case(const CaseSpec& spec);

// Bounds on generated shapes, so that a CI budget stays a budget.
struct ShapeLimits {
  std::int64_t max_elements = 4096;
  bool training = true;   // M >= 2
};

rc::Gen<TensorDesc> gen_shape(const ShapeLimits& limits);
rc::Gen<CaseSpec> gen_case_spec(const ShapeLimits& limits = {});
// Shapes as real networks have them: M from 2^16 to 2^20, or many channels (33 to about 2,100,
// values just past 16, 32, 64 and 128 among them), in both layouts. Shrinks towards small shapes.
rc::Gen<CaseSpec> gen_realistic_case_spec(const ShapeLimits& limits = {});

// One line for a counterexample: the spec and what the data looks like.
std::string describe_case(const Case& test_case);

}  // namespace bnh

namespace rc {
template <>
struct Arbitrary<bnh::CaseSpec> {
  static Gen<bnh::CaseSpec> arbitrary() { return bnh::gen_case_spec(); }
};
}  // namespace rc

namespace bnh {
void showValue(const CaseSpec& spec, std::ostream& out);
}  // namespace bnh
