#include "properties/gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "properties/differentiable.hpp"

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

  void add(double scale, std::int64_t output, std::int64_t input, double numeric, double analytic) {
    const double error = std::fabs(numeric - analytic);
    const double tolerance = atol_ * scale + rtol_ * std::fabs(analytic);
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

template <typename T>
void check_full(Differentiable<T>& f, double step, GradientCheckResult& result) {
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
  // Rows of the Jacobian from the backward: dy = e_i.
  std::vector<double> analytic(static_cast<std::size_t>(outputs * inputs));
  std::vector<T> dy(outputs, T(0));
  for (std::int64_t i = 0; i < outputs; ++i) {
    dy[i] = T(1);
    const auto row = f.gradient(dy);
    std::copy(row.begin(), row.end(), analytic.begin() + i * inputs);
    dy[i] = T(0);
  }
  std::vector<Worst> worst;
  for (const char* name : block_names) worst.emplace_back(name, result.atol, result.rtol);
  // Columns from central differences.
  std::vector<T> p = f.point();
  for (std::int64_t j = 0; j < inputs; ++j) {
    const T centre = p[j];
    const double delta = step * f.step_scale(j);
    T up = static_cast<T>(static_cast<double>(centre) + delta);
    T down = static_cast<T>(static_cast<double>(centre) - delta);
    // A step below the spacing of the dtype at this value moves by one representable number.
    if (!(up > centre)) up = std::nextafter(centre, std::numeric_limits<T>::infinity());
    if (!(down < centre)) down = std::nextafter(centre, -std::numeric_limits<T>::infinity());
    p[j] = up;
    const auto y_up = f.value(p);
    p[j] = down;
    const auto y_down = f.value(p);
    p[j] = centre;
    const double distance = static_cast<double>(up) - static_cast<double>(down);
    const Block block = f.block_of(j);
    const double scale = f.block_scale(block);
    for (std::int64_t i = 0; i < outputs; ++i) {
      const double numeric = (y_up[i] - y_down[i]) / distance;
      worst[block].add(scale, i, f.local(j), numeric, analytic[i * inputs + j]);
    }
  }
  for (const auto& w : worst) result.inputs.push_back(w.record());
}

template <typename T>
void check_fast(Differentiable<T>& f, double step, std::uint64_t seed, int directions,
                GradientCheckResult& result) {
  const std::int64_t outputs = f.outputs(), inputs = f.inputs();
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
    // v: unit over the outputs, rounded to the dtype so that both sides see the same v.
    std::vector<double> v(outputs);
    double squares = 0;
    for (auto& value : v) {
      value = normal();
      squares += value * value;
    }
    std::vector<T> v_typed(outputs);
    for (std::int64_t i = 0; i < outputs; ++i) {
      v_typed[i] = static_cast<T>(v[i] / std::sqrt(squares));
      v[i] = static_cast<double>(v_typed[i]);
    }
    // p +- h w with w_j = s_j sqrt(inputs) u_j, rounded; w is then the direction actually
    // travelled.
    std::vector<T> plus = f.point(), minus = f.point();
    std::vector<double> w(inputs);
    for (std::int64_t j = 0; j < inputs; ++j) {
      const double centre = static_cast<double>(plus[j]);
      const double delta = step * f.step_scale(j) * stretch * u[j];
      plus[j] = static_cast<T>(centre + delta);
      minus[j] = static_cast<T>(centre - delta);
      w[j] = (static_cast<double>(plus[j]) - static_cast<double>(minus[j])) / (2 * step);
    }
    const auto y_plus = f.value(plus), y_minus = f.value(minus);
    double numeric = 0;
    for (std::int64_t i = 0; i < outputs; ++i) numeric += v[i] * (y_plus[i] - y_minus[i]);
    numeric /= 2 * step;
    const auto g = f.gradient(v_typed);
    double analytic = 0;
    for (std::int64_t j = 0; j < inputs; ++j) analytic += g[j] * w[j];
    worst.add(f.direction_scale(v, w), -1, -1, numeric, analytic);
  }
  result.inputs.push_back(worst.record());
}

bool supported(Implementation& impl, const TensorDesc& desc, GradientMode mode) {
  if (!impl.supports(desc) || !impl.supports(Operation::bn_forward_train)) return false;
  if (mode == GradientMode::bn) return impl.supports(Operation::bn_backward);
  return impl.supports(Operation::renorm_forward_train) && impl.supports(Operation::renorm_backward);
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
  out << "gradient check (step " << step << ", atol " << atol << ", rtol " << rtol << "): ";
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
  const bool f32 = desc.dtype == DType::f32;
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

  GradientCheckResult result;
  result.step = options.step > 0 ? options.step : (f32 ? 1e-2 : 1e-6);
  result.atol = options.atol >= 0 ? options.atol : (f32 ? 1e-2 : 1e-5);
  result.rtol = options.rtol >= 0 ? options.rtol : (f32 ? 1e-2 : 1e-4);
  if (!supported(implementation, desc, options.mode)) {
    result.supported = false;
    return result;
  }
  try {
    dispatch_dtype(desc.dtype, [&](auto zero) {
      using T = decltype(zero);
      Differentiable<T> f(implementation, test_case, options.mode);
      if (options.method == GradientMethod::full) {
        check_full(f, result.step, result);
      } else {
        check_fast(f, result.step, options.seed, options.directions, result);
      }
    });
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
  return result;
}

}  // namespace bnh
