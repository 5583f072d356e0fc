#include "bnh/plugin_loader.hpp"

#include <dlfcn.h>

#include <optional>

#include "bnh/plugin.h"
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
    auto fail = [&](const std::string& message) {
      dlclose(library_);
      throw Error("plugin " + path + ": " + message);
    };
    using Getter = const bnh_impl_v1* (*)();
    auto get = reinterpret_cast<Getter>(dlsym(library_, "bnh_impl_v1_get"));
    if (get == nullptr) fail("does not export bnh_impl_v1_get");
    table_ = get();
    if (const std::string defect = plugin_table::defect(table_); !defect.empty()) fail(defect);
  }
  ~InProcessPlugin() { dlclose(library_); }
  InProcessPlugin(const InProcessPlugin&) = delete;
  InProcessPlugin& operator=(const InProcessPlugin&) = delete;

  const bnh_impl_v1& table() const { return *table_; }

  int call(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers, std::string& reason) const {
    const bnh_tensor_desc c_desc = desc.to_c();
    const bnh_params c_params = params.to_c();
    const bnh_impl_v1& t = *table_;
    const int status = plugin_table::call(t, operation, &c_desc, &c_params, buffers);
    if (status != 0 && t.last_error != nullptr && t.last_error() != nullptr) reason = valid_utf8(t.last_error());
    return status;
  }

 private:
  void* library_ = nullptr;
  const bnh_impl_v1* table_ = nullptr;
};

class PluginImplementation final : public UniformImplementation {
 public:
  PluginImplementation(const std::string& path, const PluginOptions& options) {
    if (options.isolate) {
      sandbox_.emplace(path, options.timeout_seconds);
      name_ = sandbox_->name();
      description_ = sandbox_->description();
    } else {
      in_process_.emplace(path);
      name_ = valid_utf8(in_process_->table().name);
      description_ = valid_utf8(in_process_->table().description != nullptr ? in_process_->table().description : "");
    }
  }

  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  bool supports(const TensorDesc& desc) const override {
    const bnh_tensor_desc c_desc = desc.to_c();
    if (sandbox_) return sandbox_->supports(c_desc);
    const auto function = in_process_->table().supports;
    return function == nullptr || function(&c_desc) != 0;
  }
  bool supports(Operation operation) const override {
    if (sandbox_) return sandbox_->provides(operation);
    return (plugin_table::provided_operations(in_process_->table()) >> static_cast<int>(operation) & 1u) != 0;
  }

  void run(Operation operation, const TensorDesc& desc, const Params& params,
           const OperationBuffers& buffers) override {
    if (!supports(operation)) throw Unsupported(name_ + " does not provide " + to_string(operation));
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
  std::string name_, description_;
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
