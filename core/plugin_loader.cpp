#include "bnh/plugin_loader.hpp"

#include <dlfcn.h>

#include <optional>

#include "bnh/plugin.h"
#include "bnh/text.hpp"
#include "bnh/validate.hpp"
#include "core/plugin_table.hpp"
#include "core/sandbox.hpp"

namespace bnh {

namespace {

using sandbox::Role;

enum class Extent { tensor, channels };

// One argument of an operation, in the C ABI's order.
struct Argument {
  const char* name;
  Role role;
  Extent extent;
  const void* pointer;
};

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

  int call(Operation operation, const bnh_tensor_desc* d, const bnh_params* p,
           const std::vector<Argument>& arguments, std::string& reason) const {
    void* b[sandbox::max_buffers]{};
    for (std::size_t k = 0; k < arguments.size(); ++k) b[k] = const_cast<void*>(arguments[k].pointer);
    const bnh_impl_v1& t = *table_;
    const int status = plugin_table::call(t, static_cast<int>(operation), d, p, b);
    if (status != 0 && t.last_error != nullptr && t.last_error() != nullptr) reason = valid_utf8(t.last_error());
    return status;
  }

 private:
  void* library_ = nullptr;
  const bnh_impl_v1* table_ = nullptr;
};

class PluginImplementation final : public Implementation {
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

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, void* y, void* save_mean,
                        void* save_invstd, void* running_mean, void* running_var) override {
    call(Operation::bn_forward_train, desc, params,
         {{"x", Role::input, Extent::tensor, x},
          {"gamma", Role::input, Extent::channels, gamma},
          {"beta", Role::input, Extent::channels, beta},
          {"y", Role::output, Extent::tensor, y},
          {"save_mean", Role::output, Extent::channels, save_mean},
          {"save_invstd", Role::output, Extent::channels, save_invstd},
          {"running_mean", Role::in_out, Extent::channels, running_mean},
          {"running_var", Role::in_out, Extent::channels, running_var}});
  }
  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, const void* running_mean,
                        const void* running_var, void* y) override {
    call(Operation::bn_forward_infer, desc, params,
         {{"x", Role::input, Extent::tensor, x},
          {"gamma", Role::input, Extent::channels, gamma},
          {"beta", Role::input, Extent::channels, beta},
          {"running_mean", Role::input, Extent::channels, running_mean},
          {"running_var", Role::input, Extent::channels, running_var},
          {"y", Role::output, Extent::tensor, y}});
  }
  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) override {
    call(Operation::bn_backward, desc, params,
         {{"dy", Role::input, Extent::tensor, dy},
          {"x", Role::input, Extent::tensor, x},
          {"gamma", Role::input, Extent::channels, gamma},
          {"save_mean", Role::input, Extent::channels, save_mean},
          {"save_invstd", Role::input, Extent::channels, save_invstd},
          {"dx", Role::output, Extent::tensor, dx},
          {"dgamma", Role::output, Extent::channels, dgamma},
          {"dbeta", Role::output, Extent::channels, dbeta}});
  }
  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) override {
    call(Operation::renorm_forward_train, desc, params,
         {{"x", Role::input, Extent::tensor, x},
          {"gamma", Role::input, Extent::channels, gamma},
          {"beta", Role::input, Extent::channels, beta},
          {"y", Role::output, Extent::tensor, y},
          {"save_mean", Role::output, Extent::channels, save_mean},
          {"save_invstd", Role::output, Extent::channels, save_invstd},
          {"r", Role::output, Extent::channels, r},
          {"d", Role::output, Extent::channels, d},
          {"running_mean", Role::in_out, Extent::channels, running_mean},
          {"running_var", Role::in_out, Extent::channels, running_var}});
  }
  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                       const void* x, const void* gamma, const void* save_mean,
                       const void* save_invstd, const void* r, const void* d, void* dx,
                       void* dgamma, void* dbeta) override {
    call(Operation::renorm_backward, desc, params,
         {{"dy", Role::input, Extent::tensor, dy},
          {"x", Role::input, Extent::tensor, x},
          {"gamma", Role::input, Extent::channels, gamma},
          {"save_mean", Role::input, Extent::channels, save_mean},
          {"save_invstd", Role::input, Extent::channels, save_invstd},
          {"r", Role::input, Extent::channels, r},
          {"d", Role::input, Extent::channels, d},
          {"dx", Role::output, Extent::tensor, dx},
          {"dgamma", Role::output, Extent::channels, dgamma},
          {"dbeta", Role::output, Extent::channels, dbeta}});
  }

 private:
  void call(Operation operation, const TensorDesc& desc, const Params& params,
            const std::vector<Argument>& arguments) {
    const std::string what = name_ + " " + to_string(operation);
    if (!supports(operation)) throw Unsupported(name_ + " does not provide " + to_string(operation));
    const bnh_tensor_desc c_desc = desc.to_c();
    const bnh_params c_params = params.to_c();
    int status = 0;
    std::string reason;
    if (in_process_) {
      status = in_process_->call(operation, &c_desc, &c_params, arguments, reason);
    } else {
      std::string& hung = hung_[static_cast<int>(operation)];
      if (!hung.empty()) throw PluginFault(hung + " on an earlier call; not called again");
      // A shape the harness cannot size (bad input) gets empty guarded buffers: a plugin that
      // refuses it, as it must, touches none of them.
      std::size_t tensor_bytes = 0, channel_bytes = 0;
      try {
        validate_desc(desc);
        tensor_bytes = static_cast<std::size_t>(desc.elements()) * element_size(desc.dtype);
        channel_bytes = static_cast<std::size_t>(desc.c) * element_size(desc.dtype);
      } catch (const Error&) {
      }
      std::vector<SandboxBuffer> buffers;
      for (const auto& argument : arguments) {
        const Role role = argument.pointer == nullptr ? Role::absent : argument.role;
        buffers.push_back({argument.name, role, argument.pointer, const_cast<void*>(argument.pointer),
                           argument.extent == Extent::tensor ? tensor_bytes : channel_bytes});
      }
      try {
        status = sandbox_->call(operation, c_desc, c_params, buffers, reason);
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
