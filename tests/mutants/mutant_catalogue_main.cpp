// Runs the whole conformance suite on every mutant and fails unless each one is caught by at
// least one property. Prints, per mutant, the properties that caught it and the mutation score.
// The small cases run first; the realistic sizes only for a mutant they miss.
//   bnh_mutant_catalogue [--cases N] [--seed S] [--mutant NAME] [--no-realistic] [--verbose]
#include <algorithm>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <string>

#include "properties/conformance.hpp"
#include "tests/mutants/mutant.hpp"

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
  if (!only.empty()) {
    catalogue.erase(std::remove_if(catalogue.begin(), catalogue.end(), [&](const auto& m) { return m.name != only; }),
                    catalogue.end());
    if (catalogue.empty()) {
      std::cerr << "bnh_mutant_catalogue: no mutant named '" << only << "'\n";
      return 2;
    }
  }
  int caught = 0;
  bnh::ConformanceOptions small_cases = options;
  small_cases.realistic = false;
  for (const auto& mutant : catalogue) {
    const auto implementation = mutant.make();
    // A default run is the small cases and then the realistic ones: a mutant the small cases
    // catch is caught by it. Only those they miss pay for the realistic sizes.
    auto result = bnh::run_conformance(*implementation, small_cases);
    const bool needed_realistic = result.failed_properties().empty() && options.realistic;
    if (needed_realistic) result = bnh::run_conformance(*implementation, options);
    const auto failed = result.failed_properties();
    caught += failed.empty() ? 0 : 1;
    std::cout << std::left << std::setw(34) << mutant.name
              << (failed.empty() ? "MISSED " : needed_realistic ? "caught at realistic sizes " : "caught ")
              << "(" << mutant.bug << ")\n    by:";
    for (const auto& name : failed) std::cout << ' ' << name;
    std::cout << '\n';
    if (verbose) {
      for (const auto& property : result.properties) {
        if (property.status != bnh::PropertyResult::Status::failed) continue;
        std::cout << "    - " << property.property << ": " << property.counterexample << "\n      "
                  << property.failure.substr(0, 300) << '\n';
      }
    }
  }
  std::cout << "\nmutation score: " << caught << "/" << catalogue.size() << " ("
            << (catalogue.empty() ? 0 : 100 * caught / static_cast<int>(catalogue.size()))
            << "%), " << options.cases << " cases per property, seed " << options.seed << '\n';
  const std::size_t least = only.empty() ? 15 : 1;
  return caught == static_cast<int>(catalogue.size()) && catalogue.size() >= least ? 0 : 1;
}
