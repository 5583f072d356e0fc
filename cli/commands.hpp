// The bnh subcommands. Each takes the words after its name and returns the exit status below
// (README and docs/conventions.md list them for users).
#pragma once

#include <string>
#include <vector>

namespace bnh::cli {

namespace exit_status {
inline constexpr int success = 0;          // every check held, or the command did its work
inline constexpr int check_failed = 1;     // a property failed, a plugin crashed or hung, ...
inline constexpr int bad_usage = 2;        // wrong flags, bad input, a file that cannot be used
inline constexpr int nothing_checked = 3;  // every property was skipped or every case refused
inline constexpr int internal_error = 4;   // an unexpected error inside bnh (a bug): one line
}  // namespace exit_status

int run_list(const std::vector<std::string>& words);
int run_check(const std::vector<std::string>& words);
int run_gradcheck(const std::vector<std::string>& words);
int run_accuracy(const std::vector<std::string>& words);  // 0 within bounds, 1 beyond, 2 bad usage
int run_bench(const std::vector<std::string>& words);    // 0 written, 1 a fault, 2 bad usage, 3 plugin unmeasured
int run_report(const std::vector<std::string>& words);   // 0 rendered, 2 bad usage or file
int run_compare(const std::vector<std::string>& words);  // 0 no regression, 1 a regression, 2 bad input

}  // namespace bnh::cli
