// The implementations a subcommand works on: built-ins named with --impl, or a plugin given with
// --plugin (hosted by a sandbox worker process unless --no-isolation; --timeout per call). A
// synchronized one (`--impl sync`, or a plugin with --ranks, --shards or --mpi) runs on ranks
// (cli/ranks.hpp).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "bnh/registry.hpp"
#include "bnh/sync_implementation.hpp"
#include "cli/arguments.hpp"

namespace bnh::cli {

struct Target {
  std::unique_ptr<Implementation> implementation;     // a plain one, or
  std::unique_ptr<SyncImplementation> synchronized;   // one run on ranks
  std::string selector;  // "--impl naive" or "--plugin ./x.so": how to name it on a command line
  Role role = Role::built_in;  // a plugin is under test; a built-in has its registered role
  std::string name() const;
};

// A built-in by name, plain or synchronized; throws bnh::Error naming the known ones for an
// unknown name.
Target builtin_target(const std::string& name);
// The plugin of `--plugin PATH`, loaded as --timeout and --no-isolation say.
Target plugin_target(const Arguments& arguments);
// The same as a synchronized plugin (one sandbox worker per rank).
Target sync_plugin_target(const std::string& command, const Arguments& arguments);

// The usage lines of the target flags, for a subcommand's --help.
inline constexpr const char* target_usage =
    "  --impl NAMES       built-in implementations (see bnh list)\n"
    "  --plugin PATH      an implementation in a shared library (C ABI, docs/plugin-abi.md),\n"
    "                     loaded and called in a sandbox worker process on guarded buffers: a\n"
    "                     crash, hang or stray write is a failed check, not a dead harness\n"
    "  --timeout SECONDS  per plugin call, and for loading it (default 10)\n"
    "  --no-isolation     load and call the plugin in this process (for a debugger)\n";

// The arguments of a subcommand that works on targets: its own flags, the target flags and
// --help (see arguments_or_help: nothing when help was asked for and printed).
std::optional<Arguments> target_arguments(const std::string& command, const std::vector<std::string>& words,
                                          std::set<std::string> value_flags, std::set<std::string> switches,
                                          const std::string& usage);

// `all_builtins_by_default`: with neither --impl nor --plugin, every built-in (only the
// synchronized ones when a ranks flag is given); otherwise one of them is required. With
// `synchronized_allowed` false, a synchronized one is a UsageError; with it, a ranks flag given
// to a plain built-in is one.
std::vector<Target> targets(const std::string& command, const Arguments& arguments,
                            bool all_builtins_by_default, bool synchronized_allowed = false);

}  // namespace bnh::cli
