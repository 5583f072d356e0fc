#include "cli/ranks.hpp"

#include <algorithm>
#include <numeric>

#include "bnh/text.hpp"
#include "properties/case.hpp"

namespace bnh::cli {

std::string RanksChoice::describe(int size) const {
  return std::to_string(size) + (mpi ? " MPI rank" : " simulated rank") + (size == 1 ? "" : "s");
}

std::string RanksChoice::replay_flags(int size) const {
  return " --ranks " + std::to_string(size) + (shards.empty() ? "" : " --shards " + shards_to_string(shards));
}

bool asks_for_ranks(const Arguments& arguments) {
  return arguments.has("--ranks") || arguments.has("--shards") || arguments.has("--mpi");
}

RanksChoice ranks_choice(const std::string& command, const Arguments& arguments) {
  const std::string prefix = "bnh " + command + ": ";
  RanksChoice choice;
  choice.mpi = arguments.has("--mpi");
  if (choice.mpi && arguments.has("--ranks")) {
    throw UsageError(prefix + "--ranks is for simulated ranks; under --mpi the ranks are the job's (mpirun -np K)");
  }
  // A collective waits for the slowest rank's call: at least as long as one call may take.
  choice.timeout_seconds = std::max(60.0, static_cast<double>(arguments.integer("--timeout", 10, 1, 86400)));
  if (arguments.has("--shards")) {
    const std::string text = arguments.value("--shards", "");
    try {
      choice.shards = parse_shards(text);
    } catch (const Error& error) {
      throw UsageError(prefix + "--shards: " + printable(error.what()));
    }
    if (std::accumulate(choice.shards.begin(), choice.shards.end(), std::int64_t{0}) < 1) {
      throw UsageError(prefix + "--shards " + printable(text) + " gives the batch no sample (N must be >= 1)");
    }
    if (arguments.has("--ranks") && arguments.integer("--ranks", 0, 1, 64) != static_cast<std::int64_t>(choice.shards.size())) {
      throw UsageError(prefix + "--shards " + printable(text) + " has " + std::to_string(choice.shards.size()) +
                       " shards but --ranks is " + arguments.value("--ranks", ""));
    }
    choice.count = static_cast<int>(choice.shards.size());
  } else {
    choice.count = static_cast<int>(arguments.integer("--ranks", default_ranks, 1, 64));
  }
  return choice;
}

std::unique_ptr<Ranks> make_ranks(const std::string& command, const RanksChoice& choice) {
  if (!choice.mpi) return simulated_ranks(choice.count, choice.timeout_seconds);
  auto ranks = mpi_ranks(choice.timeout_seconds);
  if (!choice.shards.empty() && static_cast<int>(choice.shards.size()) != ranks->size()) {
    throw UsageError("bnh " + command + ": --shards has " + std::to_string(choice.shards.size()) +
                     " shards but the MPI job has " + std::to_string(ranks->size()) + " ranks");
  }
  return ranks;
}

CaseSpec fit_case_to_ranks(const std::string& command, CaseSpec spec, RanksChoice& choice, const Arguments& arguments) {
  const std::string prefix = "bnh " + command + ": ";
  if (spec.shards.empty()) {
    if (!choice.shards.empty()) {
      if (std::accumulate(choice.shards.begin(), choice.shards.end(), std::int64_t{0}) != spec.desc.n) {
        throw UsageError(prefix + "--shards " + shards_to_string(choice.shards) + " does not add up to the case's N = " +
                         std::to_string(spec.desc.n));
      }
      spec.shards = choice.shards;
    }
    return spec;
  }
  if (!choice.shards.empty() && choice.shards != spec.shards) {
    throw UsageError(prefix + "the case's shards=" + shards_to_string(spec.shards) + " and --shards " +
                     shards_to_string(choice.shards) + " differ");
  }
  if (arguments.has("--ranks") && choice.count != static_cast<int>(spec.shards.size())) {
    throw UsageError(prefix + "the case's shards=" + shards_to_string(spec.shards) + " are for " +
                     std::to_string(spec.shards.size()) + " ranks, but --ranks is " + std::to_string(choice.count));
  }
  choice.count = static_cast<int>(spec.shards.size());
  return spec;
}

nlohmann::json ranks_json(const RanksChoice& choice, int size) {
  return {{"back_end", choice.mpi ? "mpi" : "simulated"},
          {"count", size},
          {"shards", choice.shards.empty() ? nlohmann::json(nullptr) : nlohmann::json(choice.shards)}};
}

}  // namespace bnh::cli
