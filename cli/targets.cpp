#include "cli/targets.hpp"

#include "bnh/plugin_loader.hpp"
#include "bnh/registry.hpp"

namespace bnh::cli {

std::vector<Target> targets(const std::string& command, const Arguments& arguments,
                            bool all_builtins_by_default) {
  std::vector<Target> chosen;
  if (arguments.has("--plugin")) {
    PluginOptions options;
    options.isolate = !arguments.has("--no-isolation");
    options.timeout_seconds = static_cast<double>(arguments.integer("--timeout", 10, 1, 86400));
    const std::string path = arguments.value("--plugin", "");
    chosen.push_back({load_plugin(path, options), "--plugin " + path});
  }
  if (arguments.has("--impl") || (!arguments.has("--plugin") && all_builtins_by_default)) {
    for (const auto& name : arguments.list("--impl", registered_names())) {
      chosen.push_back({make_implementation(name), "--impl " + name});
    }
  }
  if (chosen.empty()) throw UsageError("bnh " + command + ": give --impl NAME or --plugin PATH");
  return chosen;
}

}  // namespace bnh::cli
