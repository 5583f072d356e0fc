#include "properties/gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <sstream>

#include "properties/differentiable.hpp"
#include "properties/execution.hpp"

namespace bnh {

namespace {

using namespace gradient;

constexpr double tiny = std::numeric_limits<double>::min();
constexpr std::int64_t max_full_entries = std::int64_t(1) << 24;

// Standard normal deviates by Box-Muller from a 64-bit Mersenne twister, written out so that
// the directions of a seed are the same with every standard library.
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : engine_(seed) {}
  double operator()() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * 3.14159265358979323846 * u2);
  }

 private:
  double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1p-53; }  // (0, 1)
  std::mt19937_64 engine_;
};

// Keeps the worst entry of one input block (or of the directions).
class Worst {
 public:
  Worst(std::string input, double atol, double rtol) : atol_(atol), rtol_(rtol) {
    record_.input = std::move(input);
  }

  // `floor`: what the rounding of the backward's outputs to the least numbers of their dtypes
  // (f16's subnormals) may add, beyond the relative tolerance.
  void add(double scale, std::int64_t output, std::int64_t input, double numeric, double analytic, double floor = 0) {
    const double error = std::fabs(numeric - analytic);
    const double tolerance = atol_ * scale + rtol_ * std::fabs(analytic) + floor;
    const bool passed = error <= tolerance;  // false for NaN
    double ratio;
    if (std::isnan(error) || std::isnan(tolerance)) {
      ratio = std::numeric_limits<double>::infinity();
    } else if (tolerance == 0) {
      ratio = error == 0 ? 0 : std::numeric_limits<double>::infinity();
    } else {
      ratio = error / tolerance;
    }
    record_.passed = record_.passed && passed;
    if (empty_ || ratio > ratio_) {
      empty_ = false;
      ratio_ = ratio;
      record_.max_abs_error = error;
      record_.max_rel_error = error / (std::fabs(analytic) + tiny);
      record_.worst_output = output;
      record_.worst_input = input;
      record_.numeric = numeric;
      record_.analytic = analytic;
      record_.scale = scale;
      record_.tolerance = tolerance;
    }
  }

  const InputDiscrepancy& record() const { return record_; }

 private:
  double atol_, rtol_;
  bool empty_ = true;
  double ratio_ = 0;
  InputDiscrepancy record_;
};

// The two sides of a check: differences of `values`' forward, the backward of `gradients`.
// The same function, or (16-bit data, differences in f32) the f32 forward of the same
// implementation on the same data against its 16-bit backward.
struct Sides {
  Differentiable<double>& values;
  Differentiable<double>& gradients;
  const TensorDesc& differenced;  // the dtypes the perturbed inputs are rounded to
  DType gradient_dtype;           // the backward's data dtype, which dy is rounded to
  DType gradient_stats_dtype;     // and its statistics dtype
  double step = 0;
};

// The dtype input j is held in by the forward that is differenced.
DType input_dtype(const Sides& sides, std::int64_t j) {
  return sides.values.block_of(j) == block_x ? sides.differenced.dtype : sides.differenced.stats_dtype();
}

// The spacing of the least numbers (subnormals) of the dtype the backward writes the gradient
// of input j in: dx in the data dtype, dgamma and dbeta in the statistics dtype. f16's is
// 2^-24, large beside a dx of gamma / sigma when sigma is in the thousands.
double least_spacing(const Sides& sides, std::int64_t j) {
  const FloatFormat format = format_of(sides.values.block_of(j) == block_x ? sides.gradient_dtype : sides.gradient_stats_dtype);
  return std::ldexp(1.0, format.min_exponent - format.digits);
}

// The spacing of `dtype`'s numbers in the binade of `value` (the least normal's below it).
double spacing(double value, DType dtype) {
  const FloatFormat format = format_of(dtype);
  int exponent = 0;
  std::frexp(value, &exponent);  // |value| in [2^(exponent - 1), 2^exponent)
  return std::ldexp(1.0, std::max(exponent, format.min_exponent) - format.digits);
}

// `value` + `delta` rounded to `dtype`; a step that rounds back to `value` moves it to the next
// number of the dtype instead (0.75 of a spacing rounds to the neighbour, never back).
double moved(double value, double delta, DType dtype) {
  const double result = round_to_dtype(value + delta, dtype);
  if (result != value) return result;
  return round_to_dtype(value + std::copysign(0.75 * spacing(value, dtype), delta), dtype);
}

void check_full(const Sides& sides, GradientCheckResult& result) {
  Differentiable<double>& f = sides.values;
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
  // Rows of the Jacobian from the backward: dy = e_i.
  std::vector<double> analytic(static_cast<std::size_t>(outputs * inputs));
  std::vector<double> dy(outputs, 0.0);
  for (std::int64_t i = 0; i < outputs; ++i) {
    dy[i] = 1;
    const auto row = sides.gradients.gradient(dy);
    std::copy(row.begin(), row.end(), analytic.begin() + i * inputs);
    dy[i] = 0;
  }
  std::vector<Worst> worst;
  for (const char* name : block_names) worst.emplace_back(name, result.atol, result.rtol);
  // Columns from central differences.
  std::vector<double> p = f.point();
  for (std::int64_t j = 0; j < inputs; ++j) {
    const double centre = p[j];
    const double delta = sides.step * f.step_scale(j);
    const double up = moved(centre, delta, input_dtype(sides, j));
    const double down = moved(centre, -delta, input_dtype(sides, j));
    p[j] = up;
    const auto y_up = f.value(p);
    p[j] = down;
    const auto y_down = f.value(p);
    p[j] = centre;
    const double distance = up - down;
    const Block block = f.block_of(j);
    const double scale = f.block_scale(block);
    for (std::int64_t i = 0; i < outputs; ++i) {
      const double numeric = (y_up[i] - y_down[i]) / distance;
      worst[block].add(scale, i, f.local(j), numeric, analytic[i * inputs + j], least_spacing(sides, j));
    }
  }
  for (const auto& w : worst) result.inputs.push_back(w.record());
}

void check_fast(const Sides& sides, std::uint64_t seed, int directions, GradientCheckResult& result) {
  Differentiable<double>& f = sides.values;
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
  const double step = sides.step;
  Normal normal(seed);
  Worst worst("direction", result.atol, result.rtol);
  for (int k = 0; k < directions; ++k) {
    // u: a unit vector over the inputs; the step along it is h sqrt(inputs), so that every
    // element moves by about h s_j, as in the full method.
    std::vector<double> u(inputs);
    double u_squares = 0;
    for (auto& value : u) {
      value = normal();
      u_squares += value * value;
    }
    const double stretch = std::sqrt(static_cast<double>(inputs) / u_squares);
    // v: unit over the outputs, rounded to the backward's data dtype so that both sides see the
    // same v.
    std::vector<double> v(outputs);
    double squares = 0;
    for (auto& value : v) {
      value = normal();
      squares += value * value;
    }
    for (auto& value : v) value = round_to_dtype(value / std::sqrt(squares), sides.gradient_dtype);
    // p +- h w with w_j = s_j sqrt(inputs) u_j, rounded; w is then the direction actually
    // travelled.
    std::vector<double> plus = f.point(), minus = f.point();
    std::vector<double> w(inputs);
    for (std::int64_t j = 0; j < inputs; ++j) {
      const double centre = plus[j];
      const double delta = step * f.step_scale(j) * stretch * u[j];
      plus[j] = round_to_dtype(centre + delta, input_dtype(sides, j));
      minus[j] = round_to_dtype(centre - delta, input_dtype(sides, j));
      w[j] = (plus[j] - minus[j]) / (2 * step);
    }
    const auto y_plus = f.value(plus), y_minus = f.value(minus);
    double numeric = 0;
    for (std::int64_t i = 0; i < outputs; ++i) numeric += v[i] * (y_plus[i] - y_minus[i]);
    numeric /= 2 * step;
    const auto g = sides.gradients.gradient(v);
    double analytic = 0, floor = 0;
    for (std::int64_t j = 0; j < inputs; ++j) {
      analytic += g[j] * w[j];
      floor += std::fabs(w[j]) * least_spacing(sides, j);
    }
    worst.add(f.direction_scale(v, w), -1, -1, numeric, analytic, floor);
  }
  result.inputs.push_back(worst.record());
}

// The least step (relative to each input's scale, as the step is) that moves every input by at
// least one number of the dtype it is differenced in.
double resolution(const Sides& sides) {
  const Differentiable<double>& f = sides.values;
  double least = 0;
  for (std::int64_t j = 0; j < f.inputs(); ++j) {
    least = std::max(least, spacing(f.point()[j], input_dtype(sides, j)) / f.step_scale(j));
  }
  return least;
}

bool supported(Implementation& impl, const TensorDesc& desc, GradientMode mode) {
  if (!impl.supports(desc) || !impl.supports(Operation::bn_forward_train)) return false;
  if (mode == GradientMode::bn) return impl.supports(Operation::bn_backward);
  return impl.supports(Operation::renorm_forward_train) && impl.supports(Operation::renorm_backward);
}

// The defaults of docs/gradcheck.md, by the data dtype and the dtype differenced in.
struct Defaults {
  double step, atol, rtol;
};
Defaults defaults_for(DType data, DType stats, DType differenced) {
  switch (data) {
    case DType::f64: return {1e-6, 1e-5, 1e-4};
    case DType::f32: return {1e-2, 1e-2, 1e-2};
    default: break;
  }
  // 16-bit data against f32 differences: a few units of the data's roundoff u, for the
  // rounding of the backward's outputs: 2 u with f32 statistics, 4 u when the backward also
  // reads saved statistics rounded to the data dtype (pure).
  const double u = std::ldexp(1.0, -format_of(data).digits);
  const double units = stats == data ? 4 : 2;
  if (differenced == DType::f32) return {1e-2, units * u, units * u};
  // Differences of the 16-bit forward itself: the step that balances truncation against the
  // rounding of y (u Y / h), and a tolerance that holds both at kappa up to ~4.
  return data == DType::bf16 ? Defaults{0.25, 0.1, 0.1} : Defaults{0.125, 0.03, 0.03};
}

}  // namespace

bool GradientCheckResult::passed() const {
  if (!supported) return true;
  if (!error.empty() || inputs.empty()) return false;
  return std::all_of(inputs.begin(), inputs.end(), [](const auto& input) { return input.passed; });
}

std::string GradientCheckResult::describe() const {
  std::ostringstream out;
  out.precision(6);
  out << "gradient check (step " << step << (step_raised ? " (raised to two numbers of the data)" : "")
      << ", atol " << atol << ", rtol " << rtol;
  if (differences != dtype) out << "; differences of the " << to_string(differences) << " forward";
  out << "): ";
  if (!supported) {
    out << "not supported";
    return out.str();
  }
  if (refused) {
    out << "the implementation declined the call: " << error;
    return out.str();
  }
  if (!error.empty()) {
    out << "the implementation threw: " << error;
    return out.str();
  }
  out << (passed() ? "passed" : "FAILED");
  for (const auto& input : inputs) {
    out << "\n  " << input.input << (input.passed ? " ok" : " FAIL") << ": worst |numeric - analytic| "
        << input.max_abs_error;
    if (input.worst_output >= 0) {
      out << " at d y[" << input.worst_output << "] / d " << input.input << "["
          << input.worst_input << "] (output " << input.worst_output << ", input "
          << input.worst_input << ")";
    } else {
      out << " over the random directions";
    }
    out << ": numeric " << input.numeric << ", analytic " << input.analytic << "; relative error "
        << input.max_rel_error << "; error / tolerance " << input.max_abs_error / input.tolerance
        << " (tolerance " << input.tolerance << ", Jacobian scale " << input.scale << ")";
  }
  return out.str();
}

GradientCheckResult gradient_check(Implementation& implementation, const Case& test_case,
                                   const GradientCheckOptions& options) {
  const TensorDesc& desc = test_case.desc;
  if (!(options.step >= 0) || !std::isfinite(options.step)) {
    throw Error("gradient_check: the step must be finite and >= 0 (0: the default)");
  }
  if (!std::isfinite(options.atol) || !std::isfinite(options.rtol)) {
    throw Error("gradient_check: the tolerances must be finite (negative: the defaults)");
  }
  if (options.directions < 1) throw Error("gradient_check: at least one direction is needed");
  const auto elements = static_cast<std::size_t>(desc.elements());
  const auto channels = static_cast<std::size_t>(desc.c);
  auto channels_or_none = [channels](const std::vector<double>& v) {
    return v.empty() || v.size() == channels;
  };
  if (test_case.x.size() != elements || test_case.gamma.size() != channels ||
      test_case.beta.size() != channels || !channels_or_none(test_case.running_mean) ||
      !channels_or_none(test_case.running_var)) {
    throw Error("gradient_check: the case's data does not match its shape " + desc.to_string());
  }
  if (options.method == GradientMethod::full) {
    const double entries = double(desc.elements()) * double(desc.elements() + 2 * desc.c);
    if (entries > double(max_full_entries)) {
      throw Error("gradient_check: the full Jacobian of " + desc.to_string() +
                  " is too large; use the fast method");
    }
  }

  // 16-bit data is differenced in f32 (the same data, exact there, through the implementation's
  // f32 forward) unless asked otherwise or the implementation has no f32.
  TensorDesc differenced = desc;
  TensorDesc in_f32 = desc;
  in_f32.dtype = DType::f32;
  in_f32.stats.reset();
  const bool reduced = is_reduced(desc.dtype);
  if (reduced && options.differences != Differences::data &&
      (implementation.supports(in_f32) || options.differences == Differences::f32)) {
    differenced = in_f32;
  }
  GradientCheckResult result;
  result.dtype = desc.dtype;
  result.differences = differenced.dtype;
  const Defaults defaults = defaults_for(desc.dtype, desc.stats_dtype(), differenced.dtype);
  result.step = options.step > 0 ? options.step : defaults.step;
  result.atol = options.atol >= 0 ? options.atol : defaults.atol;
  result.rtol = options.rtol >= 0 ? options.rtol : defaults.rtol;
  if (!supported(implementation, desc, options.mode) || !supported(implementation, differenced, options.mode)) {
    result.supported = false;
    return result;
  }
  std::string too_small;
  try {
    InDoubles in_doubles(implementation);
    Differentiable<double> gradients(in_doubles, test_case, options.mode);
    std::optional<Differentiable<double>> values;
    if (differenced.dtype != desc.dtype) {
      Case differenced_case = test_case;
      differenced_case.desc = differenced;
      values.emplace(in_doubles, differenced_case, options.mode);
    }
    Sides sides{values ? *values : gradients, gradients, differenced, desc.dtype, desc.stats_dtype()};
    // Never a step the dtype cannot resolve: a given one is refused, the default raised to two
    // numbers of the dtype.
    result.resolution = resolution(sides);
    if (options.step > 0 && options.step < result.resolution) {
      std::ostringstream message;
      message.precision(3);
      message << options.step << " is below what " << to_string(differenced.dtype)
              << " resolves on this data: its numbers are up to " << result.resolution
              << " apart there, in units of each input's scale (for x, its channel's standard deviation), so a"
              << " smaller step rounds back to the same input and the differences are 0 or one unit; use "
              << result.resolution << " or more, or the default";
      too_small = message.str();
    } else {
      if (options.step == 0 && result.step < 2 * result.resolution) {
        result.step = 2 * result.resolution;
        result.step_raised = true;
      }
      sides.step = result.step;
      if (options.method == GradientMethod::full) {
        check_full(sides, result);
      } else {
        check_fast(sides, options.seed, options.directions, result);
      }
    }
  } catch (const Unsupported&) {
    result.supported = false;
    result.inputs.clear();
  } catch (const PluginRefusal& refusal) {
    result.refused = true;
    result.error = refusal.what();
    result.inputs.clear();
  } catch (const std::exception& error) {
    result.error = error.what();
    result.inputs.clear();
  }
  if (!too_small.empty()) throw StepBelowResolution(too_small);
  return result;
}

}  // namespace bnh
