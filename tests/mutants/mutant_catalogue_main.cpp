// Runs the whole conformance suite on every mutant and fails unless each one is caught by at
// least one property. Prints, per mutant, the properties that caught it and the mutation score.
// The small cases run first; the realistic sizes only for a mutant they miss.
//
// A mutant of bf16 or f16 runs on the dtypes its bug lives in; its base, naive (the textbook
// with no step replaced), must pass those same runs.
//
// The synchronized mutants run through run_sync_conformance on simulated ranks, the shard split
// drawn per case. Their base, the synchronized textbook, must pass the same runs, or a mutant's
// failure would mean nothing.
//   bnh_mutant_catalogue [--cases N] [--seed S] [--mutant NAME] [--no-realistic] [--verbose]
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <set>
#include <string>

#include "bnh/communicator.hpp"
#include "properties/conformance.hpp"
#include "properties/sync_conformance.hpp"
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace {

constexpr int simulated_rank_count = 3;

void print_failures(const bnh::ConformanceResult& result) {
  for (const auto& property : result.properties) {
    if (property.status != bnh::PropertyResult::Status::failed) continue;
    std::cout << "    - " << property.property << ": " << property.counterexample << "\n      "
              << property.failure.substr(0, 300) << '\n';
  }
}

// Runs `conformance` on the small cases and, when they catch nothing, on the realistic sizes
// too; prints the verdict. Returns whether the mutant was caught.
template <typename Run>
bool judge(const std::string& name, const std::string& bug, const bnh::ConformanceOptions& options,
           bool verbose, Run&& conformance) {
  // A default run is the small cases and then the realistic ones: a mutant the small cases
  // catch is caught by it. Only those they miss pay for the realistic sizes.
  bnh::ConformanceOptions small_cases = options;
  small_cases.realistic = false;
  auto result = conformance(small_cases);
  const bool needed_realistic = result.failed_properties().empty() && options.realistic;
  if (needed_realistic) result = conformance(options);
  const auto failed = result.failed_properties();
  std::cout << std::left << std::setw(34) << name
            << (failed.empty() ? "MISSED " : needed_realistic ? "caught at realistic sizes " : "caught ")
            << "(" << bug << ")\n    by:";
  for (const auto& property : failed) std::cout << ' ' << property;
  std::cout << '\n';
  if (verbose) print_failures(result);
  return !failed.empty();
}

template <typename Entry>
void keep_only(std::vector<Entry>& entries, const std::string& name) {
  if (name.empty()) return;
  entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const auto& m) { return m.name != name; }),
                entries.end());
}

}  // namespace

int main(int argc, char** argv) {
  bnh::ConformanceOptions options;
  options.cases = 100;
  options.seed = 20261124;
  bool verbose = false;
  std::string only;  // one mutant, by name
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--cases" && i + 1 < argc) {
      options.cases = std::stoi(argv[++i]);
    } else if (flag == "--seed" && i + 1 < argc) {
      options.seed = std::stoull(argv[++i]);
    } else if (flag == "--mutant" && i + 1 < argc) {
      only = argv[++i];
    } else if (flag == "--no-realistic") {  // the small cases only: what realistic sizes add
      options.realistic = false;
    } else if (flag == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "usage: bnh_mutant_catalogue [--cases N] [--seed S] [--mutant NAME] [--no-realistic] [--verbose]\n";
      return 2;
    }
  }
  auto catalogue = bnh::mutants::catalogue();
  auto sync_catalogue = bnh::mutants::sync_catalogue();
  keep_only(catalogue, only);
  keep_only(sync_catalogue, only);
  const std::size_t total = catalogue.size() + sync_catalogue.size();
  if (total == 0) {
    std::cerr << "bnh_mutant_catalogue: no mutant named '" << only << "'\n";
    return 2;
  }

  int caught = 0;
  bool naive_passed = true;
  const auto naive = bnh::make_kernel_implementation<bnh::naive::Naive>();
  std::set<std::string> base_checked;  // the dtype runs naive passed, or failed
  const auto check_naive = [&](const bnh::ConformanceOptions& run) {
    std::string key = run.realistic ? "realistic" : "small";
    for (const auto& dtypes : run.dtypes) key += " " + dtypes.label();
    if (!base_checked.insert(key).second) return;
    const auto result = bnh::run_conformance(*naive, run);
    if (result.passed()) return;
    naive_passed = false;
    std::cout << "their base, naive, FAILS on " << key << ": the verdicts on those dtypes prove nothing\n";
    print_failures(result);
  };
  for (const auto& mutant : catalogue) {
    const auto implementation = mutant.make();
    bnh::ConformanceOptions own = options;  // a reduced-precision bug is judged where it lives
    std::string bug = mutant.bug;
    if (!mutant.dtypes.empty()) {
      own.dtypes = mutant.dtypes;
      bug += "; on";
      for (const auto& dtypes : mutant.dtypes) bug += " " + dtypes.label();
    }
    caught += judge(mutant.name, bug, own, verbose, [&](const bnh::ConformanceOptions& run) {
      if (!mutant.dtypes.empty()) check_naive(run);
      return bnh::run_conformance(*implementation, run);
    });
  }
  if (!base_checked.empty() && naive_passed) std::cout << "their base, naive, passes the same bf16 and f16 runs\n";

  bool base_passed = true;
  if (!sync_catalogue.empty()) {
    const auto ranks = bnh::simulated_ranks(simulated_rank_count);
    std::cout << "\nsynchronized, on " << simulated_rank_count << " simulated ranks:\n";
    // The base must pass every run a mutant is judged by, the realistic sizes only when a
    // mutant needed them.
    bnh::mutants::SyncTextbook base("sync_textbook");
    std::vector<bool> base_checked(2, false);  // the small cases, the realistic ones
    const auto check_base = [&](const bnh::ConformanceOptions& run) {
      if (base_checked[run.realistic]) return;
      base_checked[run.realistic] = true;
      const auto result = bnh::run_sync_conformance(base, *ranks, run);
      if (result.passed()) return;
      base_passed = false;
      std::cout << "their base, the synchronized textbook, FAILS" << (run.realistic ? " at realistic sizes" : "")
                << ": the verdicts below prove nothing\n";
      print_failures(result);
    };
    for (const auto& mutant : sync_catalogue) {
      const auto implementation = mutant.make();
      caught += judge(mutant.name, mutant.bug, options, verbose, [&](const bnh::ConformanceOptions& run) {
        check_base(run);
        return bnh::run_sync_conformance(*implementation, *ranks, run);
      });
    }
    if (base_passed) std::cout << "their base, the synchronized textbook, passes the same runs\n";
  }

  std::cout << "\nmutation score: " << caught << "/" << total << " ("
            << 100 * caught / static_cast<int>(total) << "%), " << options.cases
            << " cases per property, seed " << options.seed << '\n';
  const bool whole_catalogue = only.empty();
  const auto reduced = std::count_if(catalogue.begin(), catalogue.end(), [](const auto& m) { return !m.dtypes.empty(); });
  const bool enough = !whole_catalogue || (catalogue.size() >= 15 && reduced >= 6 && sync_catalogue.size() >= 8);
  return naive_passed && base_passed && caught == static_cast<int>(total) && enough ? 0 : 1;
}
