// Runs the whole conformance suite on every mutant and fails unless each one is caught by at
// least one property. Prints, per mutant, the properties that caught it and the mutation score.
//   bnh_mutant_catalogue [--cases N] [--seed S] [--verbose]
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
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--cases" && i + 1 < argc) {
      options.cases = std::stoi(argv[++i]);
    } else if (flag == "--seed" && i + 1 < argc) {
      options.seed = std::stoull(argv[++i]);
    } else if (flag == "--verbose") {
      verbose = true;
    } else {
      std::cerr << "usage: bnh_mutant_catalogue [--cases N] [--seed S] [--verbose]\n";
      return 2;
    }
  }
  const auto catalogue = bnh::mutants::catalogue();
  int caught = 0;
  for (const auto& mutant : catalogue) {
    const auto implementation = mutant.make();
    const auto result = bnh::run_conformance(*implementation, options);
    const auto failed = result.failed_properties();
    caught += failed.empty() ? 0 : 1;
    std::cout << std::left << std::setw(34) << mutant.name << (failed.empty() ? "MISSED " : "caught ")
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
  return caught == static_cast<int>(catalogue.size()) && catalogue.size() >= 15 ? 0 : 1;
}
