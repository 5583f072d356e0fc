// One test case: a problem (shape, layout, dtype, parameters) and its data. Data is held in
// double; every value is already a value of its buffer's dtype (the data dtype for x and dy, the
// statistics dtype for the per-channel ones), so conversion is exact both ways.
//
// A case spec is the one line that names a generated case: shape, layout, dtype, data regime,
// parameters and a data seed, and for a synchronized run the shard split (docs/properties.md,
// "Case specs"; docs/sync.md). make_case()
// (properties/generators.hpp) turns it into data deterministically, so a printed counterexample
// replays exactly with bnh check --case "SPEC".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bnh/types.hpp"

namespace bnh {

// The dtypes of a run or a case: the data dtype and, when not its default, the statistics dtype
// (gamma, beta, the saved and running statistics, r, d, dgamma, dbeta). "bf16" is bf16 data with
// f32 statistics (mixed), "bf16:bf16" pure bf16. Implicit from a DType, so {DType::f64} is a list.
struct DTypeChoice {
  DType data = DType::f32;
  std::optional<DType> stats;  // never the default: that is held as nullopt

  DTypeChoice(DType data = DType::f32, std::optional<DType> stats = std::nullopt);
  static DTypeChoice of(const TensorDesc& desc) { return {desc.dtype, desc.stats}; }
  // "bf16:bf16" -> pure bf16; a pair that cannot go together is refused (bnh::Error).
  static DTypeChoice parse(const std::string& text);
  bool matches(const TensorDesc& desc) const { return *this == of(desc); }
  void apply(TensorDesc& desc) const {
    desc.dtype = data;
    desc.stats = stats;
  }
  DType stats_dtype() const { return stats.value_or(default_stats_dtype(data)); }
  std::string label() const;  // as parse reads it
  bool operator==(const DTypeChoice& other) const { return data == other.data && stats == other.stats; }
  bool operator!=(const DTypeChoice& other) const { return !(*this == other); }
};

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
// near the batch's: x and dy rounded to desc.dtype, the per-channel values to its statistics
// dtype. Deterministic in `seed`.
Case random_case(const TensorDesc& desc, std::uint64_t seed, const Params& params = {});

// Data regimes, from the simplest to the hardest; shrinking moves towards the first.
enum class Regime {
  exact_statistics,   // mean +- a in pairs, few-bit values: statistics exact in any order
  standard_normal,
  large_mean,         // mean up to 1e4 (f32), 1e8 (f64), 64 (bf16), 512 (f16) times the spread
  near_constant,      // spread a few units in the last place of the mean
  constant_channels,  // some channels exactly constant
  mixed_magnitudes,   // channels many orders of magnitude apart
  heavy_tails,        // a ratio of normals: rare huge values
  huge,               // sums of squares near (f32, bf16: beyond) f32's or f64's overflow;
                      // f16: beyond 65504, with values from 30 to 3e4
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
