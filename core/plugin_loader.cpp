#include "bnh/plugin_loader.hpp"

#include <dlfcn.h>

#include "bnh/isolated_call.hpp"
#include "bnh/plugin.h"
#include "bnh/validate.hpp"

namespace bnh {

namespace {

// Roles of the buffers of a call, and their sizes in bytes.
enum class Role { input, output, in_out };
enum class Extent { tensor, channels };

struct Argument {
  const char* name;
  Role role;
  Extent extent;
  const void* pointer;
};

class PluginImplementation final : public Implementation {
 public:
  PluginImplementation(void* library, const bnh_impl_v1* table, std::string path, PluginOptions options)
      : library_(library), table_(table), path_(std::move(path)), options_(options) {}
  ~PluginImplementation() override { dlclose(library_); }
  PluginImplementation(const PluginImplementation&) = delete;
  PluginImplementation& operator=(const PluginImplementation&) = delete;

  std::string name() const override { return table_->name; }
  std::string description() const override {
    return table_->description != nullptr ? table_->description : "";
  }
  bool supports(const TensorDesc& desc) const override {
    if (table_->supports == nullptr) return true;
    const bnh_tensor_desc c_desc = desc.to_c();
    return table_->supports(&c_desc) != 0;
  }
  bool supports(Operation operation) const override {
    switch (operation) {
      case Operation::bn_forward_train: return table_->bn_forward_train != nullptr;
      case Operation::bn_forward_infer: return table_->bn_forward_infer != nullptr;
      case Operation::bn_backward: return table_->bn_backward != nullptr;
      case Operation::renorm_forward_train: return table_->renorm_forward_train != nullptr;
      case Operation::renorm_backward: return table_->renorm_backward != nullptr;
    }
    return false;
  }

  void bn_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, void* y, void* save_mean,
                        void* save_invstd, void* running_mean, void* running_var) override {
    call(Operation::bn_forward_train, table_->bn_forward_train, desc, params,
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
    call(Operation::bn_forward_infer, table_->bn_forward_infer, desc, params,
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
    call(Operation::bn_backward, table_->bn_backward, desc, params,
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
    call(Operation::renorm_forward_train, table_->renorm_forward_train, desc, params,
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
    call(Operation::renorm_backward, table_->renorm_backward, desc, params,
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
  template <std::size_t... I, typename Function>
  static int invoke(Function function, const bnh_tensor_desc* desc, const bnh_params* params,
                    const std::vector<void*>& pointers, std::index_sequence<I...>) {
    return function(desc, params, pointers[I]...);
  }

  template <typename... Pointers>
  void call(Operation operation, int (*function)(const bnh_tensor_desc*, const bnh_params*, Pointers...),
            const TensorDesc& desc, const Params& params, const std::vector<Argument>& arguments) {
    const std::string what = name() + " " + to_string(operation);
    if (function == nullptr) throw Unsupported(name() + " does not provide " + to_string(operation));
    const bnh_tensor_desc c_desc = desc.to_c();
    const bnh_params c_params = params.to_c();
    std::vector<void*> pointers;
    for (const auto& argument : arguments) pointers.push_back(const_cast<void*>(argument.pointer));
    auto run = [&](const std::vector<void*>& given) {
      return invoke(function, &c_desc, &c_params, given, std::index_sequence_for<Pointers...>{});
    };

    int status = 0;
    std::string reason;
    if (!options_.isolate) {
      status = run(pointers);
      if (status != 0 && table_->last_error != nullptr && table_->last_error() != nullptr) reason = table_->last_error();
    } else {
      const std::string& hung = hung_[static_cast<int>(operation)];
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
      std::vector<IsolatedBuffer> buffers;
      for (const auto& argument : arguments) {
        void* writable = const_cast<void*>(argument.pointer);
        buffers.push_back({argument.name, argument.role == Role::output ? nullptr : argument.pointer,
                           argument.role == Role::input ? nullptr : writable,
                           argument.extent == Extent::tensor ? tensor_bytes : channel_bytes});
        if (argument.pointer == nullptr) buffers.back().source = buffers.back().destination = nullptr;
      }
      try {
        const IsolatedResult result = run_isolated(
            what, buffers, run, [this] { return table_->last_error ? table_->last_error() : nullptr; },
            options_.timeout_seconds);
        status = result.status;
        reason = result.message;
      } catch (const PluginFault& fault) {
        if (std::string(fault.what()).find(" hung") != std::string::npos) hung_[static_cast<int>(operation)] = fault.what();
        throw;
      }
    }
    if (status != 0) {
      throw Error(name() + " rejected " + to_string(operation) + ": " +
                  (reason.empty() ? "(no reason given)" : reason));
    }
  }

  void* library_;
  const bnh_impl_v1* table_;
  std::string path_;
  PluginOptions options_;
  std::string hung_[5];  // per operation: why it was given up on, empty while it behaves
};

}  // namespace

std::unique_ptr<Implementation> load_plugin(const std::string& path, const PluginOptions& options) {
  // A path without a slash would be searched for on the library path; plugins are files.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* library = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = dlerror();
    throw Error("cannot load plugin " + path + ": " + (reason != nullptr ? reason : "unknown error"));
  }
  auto fail = [&](const std::string& message) {
    dlclose(library);
    throw Error("plugin " + path + ": " + message);
  };
  using Getter = const bnh_impl_v1* (*)();
  auto get = reinterpret_cast<Getter>(dlsym(library, "bnh_impl_v1_get"));
  if (get == nullptr) fail("does not export bnh_impl_v1_get");
  const bnh_impl_v1* table = get();
  if (table == nullptr) fail("bnh_impl_v1_get returned NULL");
  if (table->abi_version != BNH_ABI_VERSION) {
    fail("speaks ABI version " + std::to_string(table->abi_version) + ", this harness speaks " +
         std::to_string(BNH_ABI_VERSION));
  }
  if (table->name == nullptr) fail("has a NULL name");
  return std::make_unique<PluginImplementation>(library, table, path, options);
}

}  // namespace bnh
