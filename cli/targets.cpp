#include "cli/targets.hpp"

#include <utility>

#include "bnh/plugin_loader.hpp"
#include "cli/ranks.hpp"

namespace bnh::cli {

std::string Target::name() const { return implementation ? implementation->name() : synchronized->name(); }

Target builtin_target(const std::string& name) {
  if (is_sync_implementation(name)) return {nullptr, make_sync_implementation(name), "--impl " + name, Role::built_in};
  return {make_implementation(name), nullptr, "--impl " + name, registered_role(name)};
}

Target plugin_target(const Arguments& arguments) {
  PluginOptions options;
  options.isolate = !arguments.has("--no-isolation");
  options.timeout_seconds = static_cast<double>(arguments.integer("--timeout", 10, 1, 86400));
  const std::string path = arguments.value("--plugin", "");
  return {load_plugin(path, options), nullptr, "--plugin " + path, Role::under_test};
}

Target sync_plugin_target(const std::string& command, const Arguments& arguments) {
  if (arguments.has("--no-isolation")) {
    throw UsageError("bnh " + command + ": --no-isolation is for a plain plugin; a synchronized one runs a worker per rank");
  }
  const std::string path = arguments.value("--plugin", "");
  return {nullptr, load_sync_plugin(path, static_cast<double>(arguments.integer("--timeout", 10, 1, 86400))),
          "--plugin " + path, Role::under_test};
}

std::optional<Arguments> target_arguments(const std::string& command, const std::vector<std::string>& words,
                                          std::set<std::string> value_flags, std::set<std::string> switches,
                                          const std::string& usage) {
  value_flags.insert({"--impl", "--plugin", "--timeout"});
  switches.insert("--no-isolation");
  return arguments_or_help(command, words, value_flags, std::move(switches), usage);
}

std::vector<Target> targets(const std::string& command, const Arguments& arguments,
                            bool all_builtins_by_default, bool synchronized_allowed) {
  const bool ranks_given = asks_for_ranks(arguments);
  std::vector<std::string> defaults;
  if (!ranks_given) defaults = registered_names();
  if (synchronized_allowed) {
    for (const auto& name : registered_sync_names()) defaults.push_back(name);
  }
  std::vector<Target> chosen;
  if (arguments.has("--plugin")) {
    chosen.push_back(ranks_given && synchronized_allowed ? sync_plugin_target(command, arguments) : plugin_target(arguments));
  }
  if (arguments.has("--impl") || (!arguments.has("--plugin") && all_builtins_by_default)) {
    for (const auto& name : arguments.list("--impl", defaults)) {
      if (ranks_given && !is_sync_implementation(name)) {
        throw UsageError("bnh " + command + ": --ranks, --shards and --mpi are for a synchronized implementation; " +
                         name + " is not one (see bnh list)");
      }
      chosen.push_back(builtin_target(name));
    }
  }
  if (chosen.empty()) throw UsageError("bnh " + command + ": give --impl NAME or --plugin PATH");
  for (const auto& target : chosen) {
    if (target.synchronized && !synchronized_allowed) {
      throw UsageError("bnh " + command + ": " + target.name() + " is synchronized; bnh check and bnh gradcheck check it");
    }
  }
  return chosen;
}

}  // namespace bnh::cli
