// Accuracy against conditioning, for the report's "accuracy" entries and `bnh accuracy`: every
// implementation's every operation, per dtype and per count M of values a channel holds, on
// generated cases whose channels have a chosen ratio of mean to standard deviation (kappa),
// compared with the 50-digit reference under the tolerance model
// (properties/reference_agreement.hpp, docs/tolerances.md). With the defaults (one small shape,
// a few cases) it runs inside `bnh bench` in seconds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "bnh/types.hpp"
#include "properties/case.hpp"

namespace bnh {

// The choices of a --dtype list ("f32,bf16,bf16:bf16"), each once; throws bnh::Error for an
// unknown name or a pair that is not valid (DTypeChoice::parse).
std::vector<DTypeChoice> parse_dtype_choices(const std::vector<std::string>& names);

// The data of a point: standard-normal ("normal"), or every channel's mean moved to kappa
// standard deviations ("large-mean").
enum class AccuracyRegime { normal, large_mean };
const char* to_string(AccuracyRegime regime);            // "normal" | "large-mean"
AccuracyRegime parse_accuracy_regime(const std::string& text);

// The worst errors of one implementation x operation x dtype x shape x (regime, kappa) over its
// cases: one "accuracy" entry of a report (docs/report-schema.md), field for field.
struct AccuracyPoint {
  std::string implementation;  // valid UTF-8 (a plugin's name may be any bytes)
  Operation operation = Operation::bn_forward_train;
  DType dtype = DType::f32;
  std::optional<DType> stats;  // the statistics dtype, when not the default (TensorDesc::stats)
  AccuracyRegime regime = AccuracyRegime::normal;
  double kappa = 0;  // nominal; for "normal" the largest condition measured over its cases
  std::int64_t m = 0;                // values per channel, N * H * W
  std::vector<std::int64_t> shape;   // [N, C, H, W]
  // The worst over every output; may be infinite (a non-finite output where the answer is
  // finite), which a report writes as null.
  double max_ulp_error = 0;
  // Those of the output closest to (or furthest beyond) its bound, named by worst_output.
  double max_scaled_error = 0;
  double bound = 0;
  std::string worst_output;
  int cases = 0;         // measured (supported) cases
  int failed_cases = 0;  // of them, beyond their bound or rejected
  std::string error;     // valid UTF-8; empty, or the message of a valid call that was rejected

  // Some case beyond its bound, or a valid call rejected.
  bool failed() const { return failed_cases > 0 || !error.empty(); }
  // "f32", "bf16", "bf16:bf16".
  std::string dtypes() const { return DTypeChoice(dtype, stats).label(); }
};

// The case of `spec` (its regime is replaced by standard normal data) with every channel of x
// shifted so that its mean is exactly kappa times its standard deviation (before x is rounded
// to the dtype), alternately positive and negative; the running mean moves with it (rounded to
// the statistics dtype), so that renorm's r and d stay what they were. kappa = 0 leaves the data centred.
Case make_conditioned_case(const CaseSpec& spec, double kappa);

// The largest |mean| / standard deviation over the channels of a case's x.
double condition_of(const Case& test_case);

struct AccuracyOptions {
  std::vector<std::string> implementations;   // by name: empty, every registered implementation
  std::vector<Operation> operations;          // empty: all five
  std::vector<DTypeChoice> dtypes{DType::f32, DType::f64};
  std::vector<double> kappas{1, 1e2, 1e4, 1e6, 1e8};   // the large-mean points
  int cases = 4;                              // per point; layouts alternate NCHW, NHWC
  std::vector<TensorDesc> shapes{{16, 4, 8, 8}};   // M = 1024 per channel
  std::uint64_t seed = 1;
};

// A shape with `channels` channels holding m values each: N = 8 and H = m / 8 when 8 divides
// m, else N = 1 and H = m (W = 1 either way).
TensorDesc shape_with_m(std::int64_t m, std::int64_t channels);

// Called after each implementation x operation x dtype x shape with (done, total).
using AccuracyProgress = std::function<void(int, int)>;

// One point per implementation x operation x dtype x shape x (regime, kappa): the normal regime
// (make_case's standard-normal data, kappa its measured condition) and the large-mean regime at
// each of options.kappas, in that order. Unsupported combinations are left out, and so are the
// kappas whose mean the dtype cannot hold (f16 beyond 65504).
// options.implementations is not read: the implementations are given.
std::vector<AccuracyPoint> measure_accuracy(const std::vector<Implementation*>& implementations,
                                            const AccuracyOptions& options, const AccuracyProgress& progress = {});
// The implementations named by options.implementations.
std::vector<AccuracyPoint> measure_accuracy(const AccuracyOptions& options, const AccuracyProgress& progress = {});

}  // namespace bnh
