#include <iostream>
#include <set>
#include <sstream>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/targets.hpp"
#include "bnh/validate.hpp"
#include "properties/case.hpp"
#include "properties/gradient_check.hpp"

namespace bnh::cli {

namespace {

const std::string gradcheck_usage = R"(usage: bnh gradcheck (--impl NAME | --plugin PATH.so) --shape N,C,H,W [options]

Checks that an implementation's backward is the derivative of its own forward: central finite
differences of the training forward against the backward, on random data (docs/gradcheck.md).
Renorm holds r and d fixed (stop-gradient), so both sides must agree.

options:
)" + std::string(target_usage) + R"(  --shape N,C,H,W    the tensor (required; N,C for a 2-D input)
  --layout L         nchw or nhwc (default nchw)
  --dtype D          f64 or f32 (default f64)
  --mode M           bn or renorm (default bn)
  --full             the full Jacobian (default up to 4096 entries)
  --fast             directional v^T J u checks, as PyTorch's gradcheck fast mode
  --eps E            batch-norm eps (default 1e-5)
  --step H           finite-difference step, relative to each input's scale (default: 1e-6
                     for f64, 1e-2 for f32)
  --atol A --rtol R  tolerances (default: 1e-5, 1e-4 for f64; 1e-2, 1e-2 for f32)
  --seed S           seed of the data and directions (default 1)
  --help             this text

Exit status: 0 the gradients agree, 1 they do not, 2 bad usage.
)";

TensorDesc parse_shape(const std::string& text) {
  const auto parts = split(text, ',');
  std::vector<std::int64_t> dims;
  for (const auto& part : parts) {
    std::size_t used = 0;
    std::int64_t value = 0;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != part.size()) throw UsageError("bnh gradcheck: bad --shape '" + text + "' (expected N,C,H,W)");
    dims.push_back(value);
  }
  if (dims.size() != 4 && dims.size() != 2) {
    throw UsageError("bnh gradcheck: --shape needs N,C,H,W or N,C, got '" + text + "'");
  }
  if (dims.size() == 2) dims.insert(dims.end(), {1, 1});
  return TensorDesc{dims[0], dims[1], dims[2], dims[3]};
}

double real_value(const Arguments& arguments, const std::string& flag, double fallback) {
  if (!arguments.has(flag)) return fallback;
  const std::string text = arguments.value(flag, "");
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw UsageError("bnh gradcheck: " + flag + " expects a number, got '" + text + "'");
  return value;
}

}  // namespace

int run_gradcheck(const std::vector<std::string>& words) {
  if (words.size() == 1 && (words[0] == "--help" || words[0] == "-h")) {
    std::cout << gradcheck_usage;
    return 0;
  }
  std::set<std::string> value_flags{"--shape", "--layout", "--dtype", "--mode", "--eps",
                                    "--step", "--atol", "--rtol", "--seed"};
  value_flags.insert(target_value_flags.begin(), target_value_flags.end());
  std::set<std::string> switches{"--help", "--full", "--fast"};
  switches.insert(target_switches.begin(), target_switches.end());
  const Arguments arguments("gradcheck", words, value_flags, switches);
  if (arguments.has("--help")) {
    std::cout << gradcheck_usage;
    return 0;
  }
  if (!arguments.has("--shape")) throw UsageError("bnh gradcheck: --shape N,C,H,W is required");
  if (arguments.has("--full") && arguments.has("--fast")) throw UsageError("bnh gradcheck: --full or --fast, not both");
  TensorDesc desc = parse_shape(arguments.value("--shape", ""));
  desc.layout = parse_layout(arguments.value("--layout", "nchw"));
  desc.dtype = parse_dtype(arguments.value("--dtype", "f64"));
  const std::string mode = arguments.value("--mode", "bn");
  if (mode != "bn" && mode != "renorm") throw UsageError("bnh gradcheck: --mode is bn or renorm, got '" + mode + "'");

  Params params;
  params.eps = real_value(arguments, "--eps", params.eps);
  GradientCheckOptions options;
  options.mode = mode == "bn" ? GradientMode::bn : GradientMode::renorm;
  options.step = real_value(arguments, "--step", 0);
  options.atol = real_value(arguments, "--atol", -1);
  options.rtol = real_value(arguments, "--rtol", -1);
  options.seed = arguments.unsigned_integer("--seed", 1);
  const bool small = desc.elements() * (desc.elements() + 2 * desc.c) <= 4096;
  options.method = arguments.has("--fast") || (!arguments.has("--full") && !small) ? GradientMethod::fast
                                                                                    : GradientMethod::full;

  auto chosen = targets("gradcheck", arguments, false);
  if (chosen.size() != 1) throw UsageError("bnh gradcheck: give one implementation");
  Implementation& implementation = *chosen.front().implementation;
  validate_call(mode == "bn" ? Operation::bn_forward_train : Operation::renorm_forward_train, desc, params);
  const Case test_case = random_case(desc, options.seed, params);

  std::cout << implementation.name() << ": " << mode << " gradient check, " << desc.to_string() << ", "
            << (options.method == GradientMethod::full ? "full Jacobian" : "directional (fast)") << "\n";
  const GradientCheckResult result = gradient_check(implementation, test_case, options);
  std::cout << result.describe() << '\n';
  if (!result.supported) {
    std::cout << "not supported by " << implementation.name() << '\n';
    return 2;
  }
  if (!result.passed()) {
    std::ostringstream command;
    command << "bnh gradcheck " << chosen.front().selector << " --shape " << desc.n << ',' << desc.c
            << ',' << desc.h << ',' << desc.w << " --layout " << to_string(desc.layout) << " --dtype "
            << to_string(desc.dtype) << " --mode " << mode
            << (options.method == GradientMethod::full ? " --full" : " --fast") << " --seed " << options.seed;
    std::cout << "reproduce: " << command.str() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace bnh::cli
