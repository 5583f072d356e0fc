// Generated test cases. rapidcheck generates a CaseSpec (properties/case.hpp) — shape, layout,
// dtype, data regime, parameters and a data seed — and make_case() turns it into data
// deterministically. Shrinking therefore works on what a reader needs to see (smaller shapes,
// simpler regimes, plainer parameters, seed 0) rather than on thousands of individual floats,
// and a counterexample is a one-line spec that reproduces it exactly (bnh check --case "SPEC").
//
// Floats are built from integers and from std::mt19937_64 draws scaled per regime: rapidcheck
// has no ranged double generator and its arbitrary<double> never makes the values that matter
// here (huge, tiny, subnormal, exactly repeated).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "properties/case.hpp"

namespace bnh {

// The data of a spec. The same spec in NCHW and NHWC holds the same logical tensor.
Case make_case(const CaseSpec& spec);

// Bounds on generated shapes, so that a CI budget stays a budget.
struct ShapeLimits {
  std::int64_t max_elements = 4096;  // the small cases only: realistic shapes have their own sizes
  bool training = true;              // M >= 2
  // The dtypes drawn (data, and statistics when not the default); empty: f32 and f64.
  std::vector<DTypeChoice> dtypes;
  // Synchronized runs (docs/sync.md): with ranks > 1 every case gets a shard split drawn from
  // its data seed; forced_shards (one size per rank) fix N to their sum and the split to them.
  int ranks = 1;
  std::vector<std::int64_t> forced_shards;
};

// Small shapes, cheap enough for hundreds of cases: dimensions up to 8, 2-D (N, C) up to
// N = 64, few long channels (M up to 4096), and now and then 9 to 72 channels.
rc::Gen<TensorDesc> gen_shape(const ShapeLimits& limits);
rc::Gen<CaseSpec> gen_case_spec(const ShapeLimits& limits = {});

// Shapes as real networks have them, in both dtypes and layouts, in two families:
//  - large M: M = N*H*W from 2^16 to 2^20 (real spatial sizes, or 2-D), one or two channels;
//  - many channels: C from 33 to 2,100, values just past 16, 32, ..., 1024 among them, small M.
// Each costs a fraction of a second against the reference. Shrinks step N, C, H and W down
// (the smallest shape first, then halfway, ...) and simplify regime and parameters, so that a
// failure on a large case is reported on the smallest failing shape found.
rc::Gen<CaseSpec> gen_realistic_case_spec(const ShapeLimits& limits = {});

// A shard split of n samples on `ranks` ranks, deterministic in `seed`: by turns uneven cuts
// (empty shards among them), every sample on one rank, one-sample shards, and an even split.
std::vector<std::int64_t> draw_shards(std::int64_t n, int ranks, std::uint64_t seed);
// The spec with the split `limits` asks for (none when ranks = 1 and nothing is forced): the
// forced one, with N their sum (H and W then halved to stay within max_elements, and raised
// to keep M >= 2 when training), or one drawn from the spec's data seed.
CaseSpec with_shards(CaseSpec spec, const ShapeLimits& limits);

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
