#include "properties/accuracy_sweep.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "bnh/registry.hpp"
#include "bnh/text.hpp"
#include "properties/generators.hpp"
#include "properties/reference_agreement.hpp"

namespace bnh {

namespace {

struct Moments {
  double mean = 0, stddev = 0;
};

Moments channel_moments(const Case& test_case, std::int64_t channel) {
  const TensorDesc& desc = test_case.desc;
  double sum = 0;
  desc.for_each_in_channel(channel, [&](std::int64_t i) { sum += test_case.x[i]; });
  const double count = static_cast<double>(desc.per_channel());
  Moments moments;
  moments.mean = sum / count;
  double squares = 0;
  desc.for_each_in_channel(channel, [&](std::int64_t i) {
    const double deviation = test_case.x[i] - moments.mean;
    squares += deviation * deviation;
  });
  moments.stddev = std::sqrt(squares / count);
  return moments;
}

bool finite_data(const Case& test_case) {
  return std::all_of(test_case.x.begin(), test_case.x.end(), [](double value) { return std::isfinite(value); }) &&
         std::all_of(test_case.running_mean.begin(), test_case.running_mean.end(),
                     [](double value) { return std::isfinite(value); });
}

struct Point {
  AccuracyRegime regime;
  double kappa;          // nominal; for "normal" the measured condition of its cases
  std::vector<Case> cases;
};

// The worst errors of one implementation and operation over a point's cases; nullopt when the
// implementation supports none of them.
std::optional<AccuracyPoint> measure_point(Implementation& impl, Operation operation, const Point& point) {
  AccuracyPoint result;
  result.implementation = valid_utf8(impl.name());
  result.operation = operation;
  result.regime = point.regime;
  result.kappa = point.kappa;
  double worst_ratio = -1;
  for (const Case& test_case : point.cases) {
    const AgreementResult agreement = check_reference_agreement(impl, test_case, operation);
    if (!agreement.supported) continue;
    ++result.cases;
    if (!agreement.passed()) ++result.failed_cases;
    if (!agreement.error.empty()) {
      result.error = valid_utf8(agreement.error);
      continue;
    }
    for (const OutputError& output : agreement.outputs) {
      result.max_ulp_error = std::max(result.max_ulp_error, output.max_ulp_error);
      const double ratio = output.bound > 0 ? output.max_scaled_error / output.bound : output.max_scaled_error;
      if (std::isnan(ratio) || ratio > worst_ratio) {
        worst_ratio = std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio;
        result.max_scaled_error = output.max_scaled_error;
        result.bound = output.bound;
        result.worst_output = output.output;
      }
    }
  }
  if (result.cases == 0) return std::nullopt;
  return result;
}

}  // namespace

std::vector<DTypeChoice> parse_dtype_choices(const std::vector<std::string>& names) {
  std::vector<DTypeChoice> choices;
  for (const auto& name : names) {
    const DTypeChoice choice = DTypeChoice::parse(name);
    if (std::find(choices.begin(), choices.end(), choice) == choices.end()) choices.push_back(choice);
  }
  return choices;
}

const char* to_string(AccuracyRegime regime) {
  return regime == AccuracyRegime::normal ? "normal" : "large-mean";
}

AccuracyRegime parse_accuracy_regime(const std::string& text) {
  if (text == "normal") return AccuracyRegime::normal;
  if (text == "large-mean") return AccuracyRegime::large_mean;
  throw Error("unknown accuracy regime '" + text + "' (expected normal or large-mean)");
}

Case make_conditioned_case(const CaseSpec& spec, double kappa) {
  CaseSpec normal = spec;
  normal.regime = Regime::standard_normal;
  Case result = make_case(normal);
  const TensorDesc& desc = result.desc;
  for (std::int64_t c = 0; c < desc.c; ++c) {
    const Moments moments = channel_moments(result, c);
    const double target = (c % 2 == 0 ? 1.0 : -1.0) * kappa * moments.stddev;
    const double shift = target - moments.mean;
    desc.for_each_in_channel(c, [&](std::int64_t i) { result.x[i] = round_to_dtype(result.x[i] + shift, desc.dtype); });
    result.running_mean[c] = round_to_dtype(result.running_mean[c] + shift, desc.stats_dtype());
  }
  result.exact_statistics = false;
  result.origin = spec.to_string() + " kappa=" + std::to_string(kappa);
  return result;
}

double condition_of(const Case& test_case) {
  double worst = 0;
  for (std::int64_t c = 0; c < test_case.desc.c; ++c) {
    const Moments moments = channel_moments(test_case, c);
    if (moments.stddev > 0) worst = std::max(worst, std::fabs(moments.mean) / moments.stddev);
  }
  return worst;
}

TensorDesc shape_with_m(std::int64_t m, std::int64_t channels) {
  if (m % 8 == 0) return TensorDesc{8, channels, m / 8, 1};
  return TensorDesc{1, channels, m, 1};
}

std::vector<AccuracyPoint> measure_accuracy(const std::vector<Implementation*>& implementations,
                                            const AccuracyOptions& options, const AccuracyProgress& progress) {
  std::vector<Operation> operations = options.operations;
  if (operations.empty()) operations.assign(std::begin(all_operations), std::end(all_operations));

  // The cases of one dtype and shape, made once and shared by every implementation and operation.
  auto points_for = [&](const DTypeChoice& dtypes, const TensorDesc& shape) {
    std::vector<Point> points;
    auto spec_for = [&](int index) {
      CaseSpec spec;
      spec.desc = shape;
      dtypes.apply(spec.desc);
      spec.desc.layout = index % 2 == 0 ? Layout::nchw : Layout::nhwc;
      spec.regime = Regime::standard_normal;
      spec.data_seed = options.seed + static_cast<std::uint64_t>(index);
      spec.gamma = GammaKind::random;
      spec.running = RunningKind::near;
      return spec;
    };
    Point normal{AccuracyRegime::normal, 0, {}};
    for (int i = 0; i < options.cases; ++i) {
      normal.cases.push_back(make_case(spec_for(i)));
      normal.kappa = std::max(normal.kappa, condition_of(normal.cases.back()));
    }
    points.push_back(std::move(normal));
    for (double kappa : options.kappas) {
      Point point{AccuracyRegime::large_mean, kappa, {}};
      for (int i = 0; i < options.cases; ++i) point.cases.push_back(make_conditioned_case(spec_for(i), kappa));
      // A mean beyond the format's range (f16 past 65504) leaves no finite data to judge.
      if (std::all_of(point.cases.begin(), point.cases.end(), finite_data)) points.push_back(std::move(point));
    }
    return points;
  };

  std::vector<AccuracyPoint> entries;
  const int total = static_cast<int>(implementations.size() * operations.size() * options.dtypes.size() *
                                     options.shapes.size());
  int done = 0;
  for (const DTypeChoice& dtypes : options.dtypes) {
    for (const TensorDesc& shape : options.shapes) {
      const std::vector<Point> points = points_for(dtypes, shape);
      for (Implementation* impl : implementations) {
        for (Operation operation : operations) {
          for (const Point& point : points) {
            std::optional<AccuracyPoint> entry = measure_point(*impl, operation, point);
            if (!entry) continue;  // unsupported: left out
            entry->dtype = dtypes.data;
            entry->stats = dtypes.stats;
            entry->m = shape.per_channel();
            entry->shape = {shape.n, shape.c, shape.h, shape.w};
            entries.push_back(std::move(*entry));
          }
          ++done;
          if (progress) progress(done, total);
        }
      }
    }
  }
  return entries;
}

std::vector<AccuracyPoint> measure_accuracy(const AccuracyOptions& options, const AccuracyProgress& progress) {
  std::vector<std::unique_ptr<Implementation>> owned;
  std::vector<Implementation*> implementations;
  for (const auto& name : options.implementations.empty() ? registered_names() : options.implementations) {
    owned.push_back(make_implementation(name));
    implementations.push_back(owned.back().get());
  }
  return measure_accuracy(implementations, options, progress);
}

}  // namespace bnh
