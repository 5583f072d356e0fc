// A small command-line parser for the bnh subcommands: --flag VALUE, --flag=VALUE and switches.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bnh::cli {

// A mistake in how the command was called: printed as one line, exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Arguments {
 public:
  // Throws UsageError for an unknown flag, a missing value or a stray positional argument.
  Arguments(const std::string& command, const std::vector<std::string>& words,
            const std::set<std::string>& value_flags, const std::set<std::string>& switches);

  bool has(const std::string& flag) const;
  std::string value(const std::string& flag, const std::string& fallback) const;
  // A 64-bit integer in [minimum, maximum]; anything else is a UsageError naming the range.
  std::int64_t integer(const std::string& flag, std::int64_t fallback, std::int64_t minimum,
                       std::int64_t maximum = INT64_MAX) const;
  std::uint64_t unsigned_integer(const std::string& flag, std::uint64_t fallback) const;
  // A finite number > `above` (a plain decimal or exponent form).
  double real(const std::string& flag, double fallback, double above) const;
  // Comma-separated list, or `fallback` when the flag is absent.
  std::vector<std::string> list(const std::string& flag, const std::vector<std::string>& fallback) const;
  // Comma-separated numbers, each checked as real() and integer() check one.
  std::vector<double> real_list(const std::string& flag, const std::vector<double>& fallback, double above) const;
  std::vector<std::int64_t> integer_list(const std::string& flag, const std::vector<std::int64_t>& fallback,
                                         std::int64_t minimum, std::int64_t maximum = INT64_MAX) const;

 private:
  std::int64_t parse_integer(const std::string& flag, const std::string& text, std::int64_t minimum,
                             std::int64_t maximum = INT64_MAX) const;
  double parse_real(const std::string& flag, const std::string& text, double above) const;

  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
};

// The arguments of a subcommand that answers --help (or -h as its only word) with `usage`:
// nothing when help was asked for, after printing `usage` to stdout. "--help" is added to
// `switches`. With `positionals`, the words that are neither a flag nor a flag's value are
// taken out of `words` into it; without, they are refused.
std::optional<Arguments> arguments_or_help(const std::string& command, const std::vector<std::string>& words,
                                           const std::set<std::string>& value_flags, std::set<std::string> switches,
                                           const std::string& usage,
                                           std::vector<std::string>* positionals = nullptr);

// Limits a run is checked against before it allocates or starts threads, so that a flag asking
// for too much is one line and status 2, not an abort (docs/conventions.md, "Exit statuses").
//
// The bytes a run may use: the machine's physical memory, or less when a cgroup or `ulimit -v`
// allows less.
double memory_limit_bytes();
// Throws UsageError("bnh COMMAND: WHAT needs about 15 TiB of memory, more than the 23 GiB this
// machine allows") when `bytes` (an estimate, computed in double so that no product overflows)
// is beyond memory_limit_bytes().
void require_memory(const std::string& command, const std::string& what, double bytes);
// The most threads a command may ask for: 1024, or 4 per hardware thread where that is more.
std::int64_t thread_limit();

std::vector<std::string> split(const std::string& text, char separator);

}  // namespace bnh::cli
