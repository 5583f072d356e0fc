#include "bnh/plugin_loader.hpp"

#include <dlfcn.h>

#include <optional>

#include "bnh/text.hpp"
#include "core/plugin_table.hpp"
#include "core/sandbox.hpp"

namespace bnh {

namespace {

// The plugin's own table, called in this process (--no-isolation: for a debugger).
class InProcessPlugin {
 public:
  explicit InProcessPlugin(const std::string& path) {
    library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) {
      const char* reason = dlerror();
      throw Error("cannot load plugin " + path + ": " + (reason != nullptr ? reason : "unknown error"));
    }
    if (const std::string defect = plugin_table::find_table(library_, table_, [](const char*) {}); !defect.empty()) {
      dlclose(library_);
      throw Error("plugin " + path + ": " + defect);
    }
  }
  ~InProcessPlugin() { dlclose(library_); }
  InProcessPlugin(const InProcessPlugin&) = delete;
  InProcessPlugin& operator=(const InProcessPlugin&) = delete;

  const plugin_table::PlainTable& table() const { return table_; }

  int call(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers, std::string& reason) const {
    const int status = table_.call(operation, desc.to_c_v2(), params.to_c(), buffers);
    if (status != 0 && table_.last_error() != nullptr) reason = valid_utf8(table_.last_error());
    return status;
  }

 private:
  void* library_ = nullptr;
  plugin_table::PlainTable table_;
};

class PluginImplementation final : public UniformImplementation {
 public:
  PluginImplementation(const std::string& path, const PluginOptions& options) {
    if (options.isolate) {
      sandbox_.emplace(path, options.timeout_seconds);
      name_ = sandbox_->name();
      description_ = sandbox_->description();
      abi_version_ = sandbox_->abi_version();
    } else {
      in_process_.emplace(path);
      const plugin_table::PlainTable& table = in_process_->table();
      name_ = valid_utf8(table.name());
      description_ = valid_utf8(table.description() != nullptr ? table.description() : "");
      abi_version_ = table.abi_version();
    }
  }

  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool supports(const TensorDesc& desc) const override {
    if (!expressible(desc)) return false;  // not asked: a version-1 plugin has no bf16 or f16
    if (sandbox_) return sandbox_->supports(desc);
    return in_process_->table().supports(desc.to_c_v2()) != 0;
  }
  bool supports(Operation operation) const override {
    if (sandbox_) return sandbox_->provides(operation);
    return (in_process_->table().operations() >> static_cast<int>(operation) & 1u) != 0;
  }

  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    if (!supports(operation)) throw Unsupported(name_ + " does not provide " + to_string(operation));
    if (!expressible(desc)) throw Unsupported(name_ + " speaks ABI version 1, which has no " + dtypes_label(desc) + " data");
    int status = 0;
    std::string reason;
    if (in_process_) {
      status = in_process_->call(operation, desc, params, buffers, reason);
    } else {
      std::string& hung = hung_[static_cast<int>(operation)];
      if (!hung.empty()) throw PluginFault(hung + " on an earlier call; not called again");
      try {
        status = sandbox_->call(operation, desc, params, buffers, reason);
      } catch (const PluginFault& fault) {
        if (std::string(fault.what()).find(" hung") != std::string::npos) hung = fault.what();
        throw;
      }
    }
    if (status != 0) {
      throw PluginRefusal(name_ + " rejected " + to_string(operation) + ": " +
                          (reason.empty() ? "(no reason given)" : reason));
    }
  }

 private:
  bool expressible(const TensorDesc& desc) const {
    return abi_version_ != BNH_ABI_VERSION || plugin_table::expressible_in_v1(desc);
  }

  std::string name_, description_;
  std::uint32_t abi_version_ = BNH_ABI_VERSION;
  mutable std::optional<Sandbox> sandbox_;
  std::optional<InProcessPlugin> in_process_;
  std::string hung_[5];  // per operation: why it was given up on, empty while it behaves
};

}  // namespace

std::unique_ptr<Implementation> load_plugin(const std::string& path, const PluginOptions& options) {
  // A path without a slash would be searched for on the library path; plugins are files.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  return std::make_unique<PluginImplementation>(file, options);
}

}  // namespace bnh
