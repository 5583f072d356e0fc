// The bnh subcommands. Each takes the words after its name and returns the exit status:
// 0 success, 1 a check failed, 2 the command was called wrongly or its input is bad.
#pragma once

#include <string>
#include <vector>

namespace bnh::cli {

int run_list(const std::vector<std::string>& words);
int run_check(const std::vector<std::string>& words);
int run_gradcheck(const std::vector<std::string>& words);
int run_accuracy(const std::vector<std::string>& words);  // 0 within bounds, 1 beyond, 2 bad usage
int run_bench(const std::vector<std::string>& words);    // 0 report written, 2 bad usage
int run_report(const std::vector<std::string>& words);   // 0 rendered, 2 bad usage or file
int run_compare(const std::vector<std::string>& words);  // 0 no regression, 1 a regression, 2 bad input

}  // namespace bnh::cli
