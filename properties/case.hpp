// One test case: a problem (shape, layout, dtype, parameters) and its data. Data is held in
// double; for f32 cases every value is already an f32 value, so conversion is exact both ways.
//
// A case spec is the one line that names a generated case: shape, layout, dtype, data regime,
// parameters and a data seed, and for a synchronized run the shard split (docs/properties.md,
// "Case specs"; docs/sync.md). make_case()
// (properties/generators.hpp) turns it into data deterministically, so a printed counterexample
// replays exactly with bnh check --case "SPEC".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "bnh/types.hpp"

namespace bnh {

struct Case {
  TensorDesc desc;
  Params params;
  std::vector<double> x, dy;                            // desc.elements() each
  std::vector<double> gamma, beta, running_mean, running_var;  // desc.c each
  // Statistics are exact in any summation order (few-bit data): only a few roundings remain.
  bool exact_statistics = false;
  // Synchronized runs: the samples of each rank's shard, in rank order (they add up to desc.n);
  // empty for a case not split.
  std::vector<std::int64_t> shards;
  std::string origin;  // how the case was made, e.g. a generator spec; empty if by hand

  std::string summary() const;  // shape, dtype, layout, parameters: one line
};

// Standard-normal x and dy, gamma and beta around 1 and 0 (some negative), running statistics
// near the batch's, all rounded to desc.dtype. Deterministic in `seed`.
Case random_case(const TensorDesc& desc, std::uint64_t seed, const Params& params = {});

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
inline constexpr std::array<Regime, 9> all_regimes{
    Regime::exact_statistics, Regime::standard_normal, Regime::large_mean,
    Regime::near_constant,    Regime::constant_channels, Regime::mixed_magnitudes,
    Regime::heavy_tails,      Regime::huge,              Regime::tiny};
const char* to_string(Regime regime);
Regime parse_regime(const std::string& text);

// gamma and beta: unit (gamma = 1, beta = 0) or random (multiples of 1/4 in [-2, 2], zero and
// negative included).
enum class GammaKind { unit, random };
// Running statistics: near the batch's (renorm's r and d within their limits) or far (clipped).
enum class RunningKind { near, far };
const char* to_string(GammaKind kind);
const char* to_string(RunningKind kind);

struct CaseSpec {
  TensorDesc desc{2, 1, 1, 1};
  Regime regime = Regime::exact_statistics;
  std::uint64_t data_seed = 0;
  GammaKind gamma = GammaKind::unit;
  RunningKind running = RunningKind::near;
  double eps = 1e-5, momentum = 0.1, rmax = 3, dmax = 5;
  // The shard split of a synchronized run, one size per rank, adding up to desc.n; empty: not
  // split (and not printed).
  std::vector<std::int64_t> shards;

  // "f32 nchw 2x3x4x5 regime=... seed=... ... [shards=1,0,1]"
  std::string to_string() const;
  static CaseSpec parse(const std::string& text);  // inverse of to_string; throws bnh::Error
};

// A shard split as printed, "0,3,1", and back: 1 to 64 sizes >= 0 (bnh::Error otherwise).
std::string shards_to_string(const std::vector<std::int64_t>& shards);
std::vector<std::int64_t> parse_shards(const std::string& text);

}  // namespace bnh
