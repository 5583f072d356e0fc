#include "cli/arguments.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/machine.hpp"

namespace bnh::cli {

Arguments::Arguments(const std::string& command, const std::vector<std::string>& words,
                     const std::set<std::string>& value_flags, const std::set<std::string>& switches)
    : command_(command) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string flag = words[i];
    std::string value;
    bool inline_value = false;
    if (flag.rfind("--", 0) != 0) {
      throw UsageError("bnh " + command + ": unexpected argument '" + flag + "' (see bnh " +
                       command + " --help)");
    }
    if (const auto equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
      inline_value = true;
    }
    if (switches.count(flag) != 0 && !inline_value) {
      switches_.insert(flag);
    } else if (value_flags.count(flag) != 0) {
      if (!inline_value) {
        if (i + 1 >= words.size()) {
          throw UsageError("bnh " + command + ": " + flag + " needs a value");
        }
        value = words[++i];
      }
      values_[flag] = value;
    } else {
      throw UsageError("bnh " + command + ": unknown flag '" + flag + "' (see bnh " + command +
                       " --help)");
    }
  }
}

bool Arguments::has(const std::string& flag) const {
  return switches_.count(flag) != 0 || values_.count(flag) != 0;
}

std::string Arguments::value(const std::string& flag, const std::string& fallback) const {
  const auto found = values_.find(flag);
  return found == values_.end() ? fallback : found->second;
}

std::int64_t Arguments::integer(const std::string& flag, std::int64_t fallback,
                                std::int64_t minimum, std::int64_t maximum) const {
  const auto found = values_.find(flag);
  return found == values_.end() ? fallback : parse_integer(flag, found->second, minimum, maximum);
}

std::int64_t Arguments::parse_integer(const std::string& flag, const std::string& text, std::int64_t minimum,
                                      std::int64_t maximum) const {
  std::size_t used = 0;
  std::int64_t parsed = 0;
  try {
    parsed = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool out_of_range = used == 0 && !text.empty() &&
                            text.find_first_not_of("+-0123456789") == std::string::npos;
  if (out_of_range || (used == text.size() && (parsed < minimum || parsed > maximum))) {
    const std::string range = maximum == INT64_MAX ? ">= " + std::to_string(minimum)
                                                   : "in [" + std::to_string(minimum) + ", " + std::to_string(maximum) + "]";
    throw UsageError("bnh " + command_ + ": " + flag + " must be " + range + ", got " + text);
  }
  if (used == 0 || used != text.size()) {
    throw UsageError("bnh " + command_ + ": " + flag + " expects an integer, got '" + text + "'");
  }
  return parsed;
}

std::uint64_t Arguments::unsigned_integer(const std::string& flag, std::uint64_t fallback) const {
  const auto found = values_.find(flag);
  if (found == values_.end()) return fallback;
  std::size_t used = 0;
  std::uint64_t parsed = 0;
  try {
    parsed = std::stoull(found->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != found->second.size() || found->second[0] == '-') {
    throw UsageError("bnh " + command_ + ": " + flag + " expects a non-negative integer, got '" +
                     found->second + "'");
  }
  return parsed;
}

double Arguments::real(const std::string& flag, double fallback, double above) const {
  const auto found = values_.find(flag);
  return found == values_.end() ? fallback : parse_real(flag, found->second, above);
}

double Arguments::parse_real(const std::string& flag, const std::string& text, double above) const {
  std::size_t used = 0;
  double parsed = 0;
  try {
    parsed = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(parsed)) {
    throw UsageError("bnh " + command_ + ": " + flag + " expects a number, got '" + text + "'");
  }
  if (!(parsed > above)) {
    std::string bound = std::to_string(above);
    bound.erase(bound.find_last_not_of('0') + 1);
    if (!bound.empty() && bound.back() == '.') bound.pop_back();
    throw UsageError("bnh " + command_ + ": " + flag + " must be > " + bound + ", got " + text);
  }
  return parsed;
}

std::vector<double> Arguments::real_list(const std::string& flag, const std::vector<double>& fallback,
                                         double above) const {
  if (!has(flag)) return fallback;
  std::vector<double> values;
  for (const auto& item : list(flag, {})) values.push_back(parse_real(flag, item, above));
  return values;
}

std::vector<std::int64_t> Arguments::integer_list(const std::string& flag, const std::vector<std::int64_t>& fallback,
                                                  std::int64_t minimum, std::int64_t maximum) const {
  if (!has(flag)) return fallback;
  std::vector<std::int64_t> values;
  for (const auto& item : list(flag, {})) values.push_back(parse_integer(flag, item, minimum, maximum));
  return values;
}

std::vector<std::string> Arguments::list(const std::string& flag,
                                         const std::vector<std::string>& fallback) const {
  const auto found = values_.find(flag);
  if (found == values_.end()) return fallback;
  auto items = split(found->second, ',');
  if (items.empty()) throw UsageError("bnh " + command_ + ": " + flag + " needs at least one item");
  return items;
}

namespace {

// Removes and returns the positional arguments of `words`: the words that are not a flag and
// not the value of one of `value_flags` given as a separate word.
std::vector<std::string> take_positionals(std::vector<std::string>& words,
                                          const std::set<std::string>& value_flags) {
  std::vector<std::string> positionals, rest;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.rfind("-", 0) == 0 && word.size() > 1) {
      rest.push_back(word);
      if (word.find('=') == std::string::npos && value_flags.count(word) != 0 && i + 1 < words.size()) {
        rest.push_back(words[++i]);
      }
    } else {
      positionals.push_back(word);
    }
  }
  words = rest;
  return positionals;
}

}  // namespace

std::optional<Arguments> arguments_or_help(const std::string& command, const std::vector<std::string>& words,
                                           const std::set<std::string>& value_flags, std::set<std::string> switches,
                                           const std::string& usage, std::vector<std::string>* positionals) {
  switches.insert("--help");
  std::vector<std::string> flags = words;
  if (flags == std::vector<std::string>{"-h"}) flags = {"--help"};
  if (positionals != nullptr) *positionals = take_positionals(flags, value_flags);
  Arguments arguments(command, flags, value_flags, switches);
  if (!arguments.has("--help")) return arguments;
  std::cout << usage;
  return std::nullopt;
}

namespace {

// A cgroup's memory limit (v2, then v1), or infinity when there is none or it cannot be read.
double cgroup_memory_limit() {
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    double bytes = 0;
    if (in >> bytes && bytes > 0) return bytes;  // "max" (no limit) does not parse
  }
  return INFINITY;
}

std::string bytes_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 6) {
    bytes /= 1024;
    ++unit;
  }
  std::ostringstream out;
  out << std::setprecision(bytes < 10 ? 2 : 3) << bytes << ' ' << units[unit];
  return out.str();
}

}  // namespace

double memory_limit_bytes() {
  double limit = static_cast<double>(machine().memory_bytes);
  if (!(limit > 0)) limit = INFINITY;
  limit = std::min(limit, cgroup_memory_limit());
  rlimit address_space{};
  if (getrlimit(RLIMIT_AS, &address_space) == 0 && address_space.rlim_cur != RLIM_INFINITY) {
    limit = std::min(limit, static_cast<double>(address_space.rlim_cur));
  }
  return limit;
}

void require_memory(const std::string& command, const std::string& what, double bytes) {
  const double limit = memory_limit_bytes();
  if (bytes > limit) {
    throw UsageError("bnh " + command + ": " + what + " needs about " + bytes_text(bytes) +
                     " of memory, more than the " + bytes_text(limit) + " this machine allows");
  }
}

std::int64_t thread_limit() {
  return std::max<std::int64_t>(1024, 4 * static_cast<std::int64_t>(std::thread::hardware_concurrency()));
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> items;
  std::string current;
  for (char ch : text) {
    if (ch == separator) {
      if (!current.empty()) items.push_back(current);
      current.clear();
    } else {
      current += ch;
    }
  }
  if (!current.empty()) items.push_back(current);
  return items;
}

}  // namespace bnh::cli
