#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>

#include "bnh/text.hpp"
#include "bnh/validate.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/ranks.hpp"
#include "cli/targets.hpp"
#include "properties/case.hpp"
#include "properties/generators.hpp"
#include "properties/gradient_check.hpp"
#include "properties/sharded_implementation.hpp"

namespace bnh::cli {

namespace {

// What one element of the tensor costs the check, at most: the case's x and dy, the point and
// its two perturbations, the directions, the forward's outputs and the backward's gradients in
// double, and a plugin's copies of its buffers. Measured near 110 bytes in-process.
constexpr double bytes_per_element = 160;
constexpr double max_full_entries = 1 << 24;  // as gradient_check allows

const std::string gradcheck_usage = R"(usage: bnh gradcheck (--impl NAME | --plugin PATH.so) --shape N,C,H,W [options]

Checks that an implementation's backward is the derivative of its own forward: central finite
differences of the training forward against the backward, on random data (docs/gradcheck.md).
Renorm holds r and d fixed (stop-gradient), so both sides must agree. A synchronized
implementation (`--impl sync`, or a plugin with --ranks, --shards or --mpi) is checked on the
whole batch split across ranks: by --shards, or by a split drawn from --seed (docs/sync.md).

options:
)" + std::string(target_usage) + ranks_usage + R"(  --shape N,C,H,W    the tensor (required; N,C for a 2-D input); refused when the check
                     would need more than this machine's memory (about 160 bytes an element)
  --layout L         nchw or nhwc (default nchw)
  --dtype LIST       f64, f32, bf16, f16 (statistics in f32), bf16:bf16, f16:f16 (statistics
                     in the data dtype) (default: f64 if the implementation supports it,
                     else f32); a dtype it does not support is skipped, with the reason
  --mode M           bn or renorm (default bn)
  --full             the full Jacobian (default up to 4096 entries; at most 2^24)
  --fast             directional v^T J u checks, as PyTorch's gradcheck fast mode
  --eps E            batch-norm eps (default 1e-5)
  --differences D    bf16 and f16 data: f32 (default when the implementation has f32: its
                     f32 forward on the same data, differenced, against its 16-bit backward)
                     or data (its own 16-bit forward differenced: a coarse check)
  --step H           finite-difference step in (0, 1), relative to each input's scale
                     (default: 1e-6 for f64, 1e-2 for f32 and f32 differences, 0.25 for
                     bf16 and 0.125 for f16 differences; raised to two numbers of the data
                     where that is coarser); a step below the data's resolution is refused
  --atol A --rtol R  tolerances, >= 0 (default: 1e-5, 1e-4 for f64; 1e-2 for f32; against
                     f32 differences 2 units of the data's roundoff, 4 with statistics in
                     the data dtype; 0.1 for bf16 and 0.03 for f16 differences)
  --seed S           seed of the data and directions (default 1)
  --help             this text

Exit status: 0 the gradients agree, 1 they do not (or the implementation crashed or hung),
2 bad usage, 3 nothing was checked (no dtype or operation the check needs is supported, or a
plugin declined the call).
)";

// --shape N,C,H,W or N,C; the extents themselves are validated with the rest of the call.
TensorDesc parse_shape(const Arguments& arguments) {
  const std::string text = arguments.value("--shape", "");
  std::vector<std::int64_t> dims;
  try {
    dims = arguments.integer_list("--shape", {}, INT64_MIN);
  } catch (const UsageError&) {
    throw UsageError("bnh gradcheck: bad --shape '" + text + "' (expected N,C,H,W)");
  }
  if (dims.size() != 4 && dims.size() != 2) {
    throw UsageError("bnh gradcheck: --shape needs N,C,H,W or N,C, got '" + text + "'");
  }
  if (dims.size() == 2) dims.insert(dims.end(), {1, 1});
  return TensorDesc{dims[0], dims[1], dims[2], dims[3]};
}

// A tolerance: finite and >= 0; -1 (the dtype's default) when not given.
double tolerance(const Arguments& arguments, const std::string& flag) {
  if (!arguments.has(flag)) return -1;
  const double value = arguments.real(flag, -1, -INFINITY);
  if (value < 0) throw UsageError("bnh gradcheck: " + flag + " must be >= 0, got " + arguments.value(flag, ""));
  return value;
}

// The operations the check calls: the training forward (renorm also uses bn's, for xhat) and
// the backward of the mode.
std::vector<Operation> operations_needed(GradientMode mode) {
  if (mode == GradientMode::bn) return {Operation::bn_forward_train, Operation::bn_backward};
  return {Operation::bn_forward_train, Operation::renorm_forward_train, Operation::renorm_backward};
}

// Each line of a multi-line text (plugin messages included) made safe for the terminal.
void print_lines(const std::string& text) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) std::cout << printable(line) << '\n';
}

}  // namespace

int run_gradcheck(const std::vector<std::string>& words) {
  const auto parsed = target_arguments(
      "gradcheck", words,
      {"--shape", "--layout", "--dtype", "--mode", "--eps", "--step", "--atol", "--rtol", "--seed", "--ranks", "--shards",
       "--differences"},
      {"--full", "--fast", "--mpi"}, gradcheck_usage);
  if (!parsed) return exit_status::success;
  const Arguments& arguments = *parsed;
  if (!arguments.has("--shape")) throw UsageError("bnh gradcheck: --shape N,C,H,W is required");
  if (arguments.has("--full") && arguments.has("--fast")) throw UsageError("bnh gradcheck: --full or --fast, not both");
  const std::string shape_text = arguments.value("--shape", "");
  TensorDesc desc = parse_shape(arguments);
  desc.layout = parse_layout(arguments.value("--layout", "nchw"));
  std::vector<DTypeChoice> requested;
  for (const auto& name : arguments.list("--dtype", {})) requested.push_back(DTypeChoice::parse(name));
  const std::string mode = arguments.value("--mode", "bn");
  if (mode != "bn" && mode != "renorm") throw UsageError("bnh gradcheck: --mode is bn or renorm, got '" + printable(mode) + "'");

  Params params;
  params.eps = arguments.real("--eps", params.eps, 0);
  GradientCheckOptions options;
  options.mode = mode == "bn" ? GradientMode::bn : GradientMode::renorm;
  options.step = arguments.real("--step", 0, 0);
  // The step is relative to each input's scale: one whole scale or more is no derivative.
  if (options.step >= 1) throw UsageError("bnh gradcheck: --step must be below 1, got " + arguments.value("--step", ""));
  options.atol = tolerance(arguments, "--atol");
  options.rtol = tolerance(arguments, "--rtol");
  options.seed = arguments.unsigned_integer("--seed", 1);
  const std::string differences = arguments.value("--differences", "");
  if (!differences.empty() && differences != "f32" && differences != "data") {
    throw UsageError("bnh gradcheck: --differences is f32 or data, got '" + printable(differences) + "'");
  }
  options.differences = differences == "f32" ? Differences::f32 : differences == "data" ? Differences::data
                                                                                        : Differences::automatic;

  // The shape and the memory it needs are refused before a plugin is loaded or anything is
  // allocated; validation does not depend on the dtype.
  validate_call(options.mode == GradientMode::bn ? Operation::bn_forward_train : Operation::renorm_forward_train,
                desc, params);
  const double elements = static_cast<double>(desc.elements());
  require_memory("gradcheck", "--shape " + shape_text, elements * bytes_per_element);
  const double entries = elements * (elements + 2 * static_cast<double>(desc.c));  // of the full Jacobian
  const bool small = entries <= 4096;
  if (arguments.has("--full") && entries > max_full_entries) {
    throw UsageError("bnh gradcheck: --full on " + shape_text + " compares " + std::to_string(static_cast<std::int64_t>(entries)) +
                     " Jacobian entries, more than 2^24; use --fast");
  }
  options.method = arguments.has("--fast") || (!arguments.has("--full") && !small) ? GradientMethod::fast
                                                                                    : GradientMethod::full;

  auto chosen = targets("gradcheck", arguments, false, true);
  if (chosen.size() != 1) throw UsageError("bnh gradcheck: give one implementation");
  // A synchronized one: the whole batch split across the ranks, by --shards or drawn from --seed.
  RanksChoice choice = ranks_choice("gradcheck", arguments);
  if (!choice.shards.empty() && std::accumulate(choice.shards.begin(), choice.shards.end(), std::int64_t{0}) != desc.n) {
    throw UsageError("bnh gradcheck: --shards " + arguments.value("--shards", "") + " does not add up to N = " +
                     std::to_string(desc.n));
  }
  std::unique_ptr<Ranks> ranks;
  std::unique_ptr<ShardedImplementation> sharded;
  std::string selector = chosen.front().selector;
  if (chosen.front().synchronized) {
    ranks = make_ranks("gradcheck", choice);
    if (choice.shards.empty()) choice.shards = draw_shards(desc.n, ranks->size(), options.seed);
    sharded = std::make_unique<ShardedImplementation>(*chosen.front().synchronized, *ranks);
    sharded->set_shards(choice.shards);
    selector += choice.replay_flags(ranks->size());
  }
  Implementation& implementation = sharded ? *sharded : *chosen.front().implementation;
  const std::string name = printable(implementation.name()) +
                           (sharded ? " on " + choice.describe(ranks->size()) + ", shards " + shards_to_string(choice.shards) : "");

  std::string missing;
  for (Operation operation : operations_needed(options.mode)) {
    if (!implementation.supports(operation)) missing += (missing.empty() ? "" : ", ") + std::string(to_string(operation));
  }
  if (!missing.empty()) {
    std::cout << "nothing was checked: " << name << " does not provide " << missing << " (the " << mode
              << " gradient check needs them)\n";
    return exit_status::nothing_checked;
  }

  // The dtypes asked for that the implementation supports; by default its most precise one.
  auto supported = [&](const DTypeChoice& dtype) {
    TensorDesc typed = desc;
    dtype.apply(typed);
    return implementation.supports(typed);
  };
  std::vector<DTypeChoice> dtypes;
  if (requested.empty()) {
    for (DTypeChoice dtype : {DType::f64, DType::f32}) {
      if (supported(dtype)) {
        dtypes.push_back(dtype);
        break;
      }
    }
    if (dtypes.empty()) {
      std::cout << "nothing was checked: " << name << " supports neither f64 nor f32 in " << to_string(desc.layout)
                << '\n';
      return exit_status::nothing_checked;
    }
  }
  for (const DTypeChoice& dtype : requested) {
    if (supported(dtype)) {
      dtypes.push_back(dtype);
    } else {
      std::cout << "skipped " << dtype.label() << ": " << name << " does not support " << dtype.label() << ' '
                << to_string(desc.layout) << '\n';
    }
  }

  bool any_checked = false, any_failed = false;
  for (const DTypeChoice& dtype : dtypes) {
    dtype.apply(desc);
    const Case test_case = random_case(desc, options.seed, params);
    GradientCheckResult result;
    try {
      result = gradient_check(implementation, test_case, options);
    } catch (const StepBelowResolution& refused) {
      throw UsageError("bnh gradcheck: --step " + std::string(refused.what()));
    }
    std::cout << name << ": " << mode << " gradient check, " << desc.to_string() << ", "
              << (options.method == GradientMethod::full ? "full Jacobian" : "directional (fast)") << "\n";
    if (result.refused || !result.supported) {
      std::cout << "skipped " << dtype.label() << ": "
                << (result.refused ? printable(result.error) : name + " does not support it") << '\n';
      continue;
    }
    any_checked = true;
    print_lines(result.describe());
    if (!result.passed()) {
      any_failed = true;
      std::ostringstream command;
      command << "bnh gradcheck " << printable(selector) << " --shape " << desc.n << ',' << desc.c
              << ',' << desc.h << ',' << desc.w << " --layout " << to_string(desc.layout) << " --dtype "
              << dtype.label() << " --mode " << mode
              << (options.method == GradientMethod::full ? " --full" : " --fast") << " --seed " << options.seed
              << (differences.empty() ? "" : " --differences " + differences)
              << (options.step > 0 ? " --step " + arguments.value("--step", "") : "");
      std::cout << "reproduce: " << command.str() << '\n';
    }
  }
  if (any_failed) return exit_status::check_failed;
  if (!any_checked) {
    std::cout << "nothing was checked: none of the dtypes asked for could be checked on " << name << '\n';
    return exit_status::nothing_checked;
  }
  return exit_status::success;
}

}  // namespace bnh::cli
