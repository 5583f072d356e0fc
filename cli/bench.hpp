// The two modes of `bnh bench`: implementations on a suite (cli/bench.cpp), and with --sync the
// scaling of a synchronized implementation over MPI ranks (cli/bench_sync.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/suites.hpp"
#include "cli/arguments.hpp"

namespace bnh::cli {

// `bnh bench --sync ...`: runs itself under mpirun once per rank count, prints the scaling table
// and writes its JSON file.
int run_bench_sync(const std::vector<std::string>& words);

// The shapes of the suite `suite` with batch `n`, only those --shapes names when it is given;
// a UsageError names the suites or the suite's shapes when one is not known.
std::vector<bench::Shape> chosen_shapes(const Arguments& arguments, const std::string& suite, std::int64_t n);

}  // namespace bnh::cli
