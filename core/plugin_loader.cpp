#include "bnh/plugin_loader.hpp"

#include <dlfcn.h>

#include "bnh/plugin.h"

namespace bnh {

namespace {

class PluginImplementation final : public Implementation {
 public:
  PluginImplementation(void* library, const bnh_impl_v1* table, std::string path)
      : library_(library), table_(table), path_(std::move(path)) {}
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
    call(Operation::bn_forward_train, table_->bn_forward_train, desc, params, x, gamma, beta, y,
         save_mean, save_invstd, running_mean, running_var);
  }
  void bn_forward_infer(const TensorDesc& desc, const Params& params, const void* x,
                        const void* gamma, const void* beta, const void* running_mean,
                        const void* running_var, void* y) override {
    call(Operation::bn_forward_infer, table_->bn_forward_infer, desc, params, x, gamma, beta,
         running_mean, running_var, y);
  }
  void bn_backward(const TensorDesc& desc, const Params& params, const void* dy, const void* x,
                   const void* gamma, const void* save_mean, const void* save_invstd, void* dx,
                   void* dgamma, void* dbeta) override {
    call(Operation::bn_backward, table_->bn_backward, desc, params, dy, x, gamma, save_mean,
         save_invstd, dx, dgamma, dbeta);
  }
  void renorm_forward_train(const TensorDesc& desc, const Params& params, const void* x,
                            const void* gamma, const void* beta, void* y, void* save_mean,
                            void* save_invstd, void* r, void* d, void* running_mean,
                            void* running_var) override {
    call(Operation::renorm_forward_train, table_->renorm_forward_train, desc, params, x, gamma,
         beta, y, save_mean, save_invstd, r, d, running_mean, running_var);
  }
  void renorm_backward(const TensorDesc& desc, const Params& params, const void* dy,
                       const void* x, const void* gamma, const void* save_mean,
                       const void* save_invstd, const void* r, const void* d, void* dx,
                       void* dgamma, void* dbeta) override {
    call(Operation::renorm_backward, table_->renorm_backward, desc, params, dy, x, gamma,
         save_mean, save_invstd, r, d, dx, dgamma, dbeta);
  }

 private:
  template <typename Function, typename... Buffers>
  void call(Operation operation, Function function, const TensorDesc& desc, const Params& params,
            Buffers... buffers) {
    if (function == nullptr) {
      throw Unsupported(name() + " does not provide " + to_string(operation));
    }
    const bnh_tensor_desc c_desc = desc.to_c();
    const bnh_params c_params = params.to_c();
    if (function(&c_desc, &c_params, buffers...) != 0) {
      const char* reason = table_->last_error != nullptr ? table_->last_error() : nullptr;
      throw Error(name() + " rejected " + to_string(operation) + ": " +
                  (reason != nullptr && *reason != '\0' ? reason : "(no reason given)"));
    }
  }

  void* library_;
  const bnh_impl_v1* table_;
  std::string path_;
};

}  // namespace

std::unique_ptr<Implementation> load_plugin(const std::string& path) {
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
  return std::make_unique<PluginImplementation>(library, table, path);
}

}  // namespace bnh
