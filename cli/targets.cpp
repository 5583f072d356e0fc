#include "cli/targets.hpp"

#include <utility>

#include "bnh/plugin_loader.hpp"

namespace bnh::cli {

Target builtin_target(const std::string& name) {
  return {make_implementation(name), "--impl " + name, registered_role(name)};
}

Target plugin_target(const Arguments& arguments) {
  PluginOptions options;
  options.isolate = !arguments.has("--no-isolation");
  options.timeout_seconds = static_cast<double>(arguments.integer("--timeout", 10, 1, 86400));
  const std::string path = arguments.value("--plugin", "");
  return {load_plugin(path, options), "--plugin " + path, Role::under_test};
}

std::optional<Arguments> target_arguments(const std::string& command, const std::vector<std::string>& words,
                                          std::set<std::string> value_flags, std::set<std::string> switches,
                                          const std::string& usage) {
  value_flags.insert({"--impl", "--plugin", "--timeout"});
  switches.insert("--no-isolation");
  return arguments_or_help(command, words, value_flags, std::move(switches), usage);
}

std::vector<Target> targets(const std::string& command, const Arguments& arguments,
                            bool all_builtins_by_default) {
  std::vector<Target> chosen;
  if (arguments.has("--plugin")) chosen.push_back(plugin_target(arguments));
  if (arguments.has("--impl") || (!arguments.has("--plugin") && all_builtins_by_default)) {
    for (const auto& name : arguments.list("--impl", registered_names())) chosen.push_back(builtin_target(name));
  }
  if (chosen.empty()) throw UsageError("bnh " + command + ": give --impl NAME or --plugin PATH");
  return chosen;
}

}  // namespace bnh::cli
