#include "cli/arguments.hpp"

#include <cmath>

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
    throw UsageError("bnh " + command_ + ": " + flag + " must be in [" + std::to_string(minimum) +
                     ", " + std::to_string(maximum) + "], got " + text);
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
                                                  std::int64_t minimum) const {
  if (!has(flag)) return fallback;
  std::vector<std::int64_t> values;
  for (const auto& item : list(flag, {})) values.push_back(parse_integer(flag, item, minimum));
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

}  // namespace bnh::cli
