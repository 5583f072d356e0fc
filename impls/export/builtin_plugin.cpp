// One built-in implementation exported through the plugin C ABI (include/bnh/plugin.h), so that
// `bnh check --plugin` can be pointed at a kernel whose verdict is known, and the cost of the
// plugin path measured against the in-process one (bench/plugin_overhead.sh).
//
// Compiled once per implementation with BNH_EXPORTED_IMPLEMENTATION naming it. The library
// carries its own copy of the core (validation, the registry), built with hidden visibility
// and linked with --exclude-libs and a version script, so that bnh_impl_v1_get is its only
// exported symbol and none of its copies ever stands in for the host's.
#include <exception>
#include <memory>
#include <string>

#include "bnh/plugin.h"
#include "bnh/registry.hpp"

#ifndef BNH_EXPORTED_IMPLEMENTATION
#error "define BNH_EXPORTED_IMPLEMENTATION to the name of the built-in implementation to export"
#endif

namespace {

using bnh::Operation;

// The reason of the last refusal on this thread, as last_error() returns it.
thread_local std::string last_error_message;

bnh::Implementation& implementation() {
  static const std::unique_ptr<bnh::Implementation> made =
      bnh::make_implementation(BNH_EXPORTED_IMPLEMENTATION);
  return *made;
}

// Runs one call of the implementation; an exception must not cross the C ABI, so a refusal
// (bnh::Error) or anything else thrown becomes a nonzero return with its message.
template <typename Call>
int refuse_on_exception(const bnh_tensor_desc* desc, const bnh_params* params, Call&& call) {
  try {
    if (desc == nullptr || params == nullptr) throw bnh::Error("desc and params must not be NULL");
    call(bnh::TensorDesc::from_c(*desc), bnh::Params::from_c(*params));
    return 0;
  } catch (const std::exception& error) {
    last_error_message = error.what();
  } catch (...) {
    last_error_message = "unknown exception";
  }
  return 1;
}

const char* last_error() { return last_error_message.c_str(); }

int supports(const bnh_tensor_desc* desc) {
  try {
    return desc != nullptr && implementation().supports(bnh::TensorDesc::from_c(*desc)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int bn_forward_train(const bnh_tensor_desc* desc, const bnh_params* params, const void* x,
                     const void* gamma, const void* beta, void* y, void* save_mean,
                     void* save_invstd, void* running_mean, void* running_var) {
  return refuse_on_exception(desc, params, [&](const auto& d, const auto& p) {
    implementation().bn_forward_train(d, p, x, gamma, beta, y, save_mean, save_invstd,
                                      running_mean, running_var);
  });
}

int bn_forward_infer(const bnh_tensor_desc* desc, const bnh_params* params, const void* x,
                     const void* gamma, const void* beta, const void* running_mean,
                     const void* running_var, void* y) {
  return refuse_on_exception(desc, params, [&](const auto& d, const auto& p) {
    implementation().bn_forward_infer(d, p, x, gamma, beta, running_mean, running_var, y);
  });
}

int bn_backward(const bnh_tensor_desc* desc, const bnh_params* params, const void* dy,
                const void* x, const void* gamma, const void* save_mean, const void* save_invstd,
                void* dx, void* dgamma, void* dbeta) {
  return refuse_on_exception(desc, params, [&](const auto& d, const auto& p) {
    implementation().bn_backward(d, p, dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  });
}

int renorm_forward_train(const bnh_tensor_desc* desc, const bnh_params* params, const void* x,
                         const void* gamma, const void* beta, void* y, void* save_mean,
                         void* save_invstd, void* r, void* d, void* running_mean,
                         void* running_var) {
  return refuse_on_exception(desc, params, [&](const auto& dd, const auto& p) {
    implementation().renorm_forward_train(dd, p, x, gamma, beta, y, save_mean, save_invstd, r, d,
                                          running_mean, running_var);
  });
}

int renorm_backward(const bnh_tensor_desc* desc, const bnh_params* params, const void* dy,
                    const void* x, const void* gamma, const void* save_mean,
                    const void* save_invstd, const void* r, const void* d, void* dx,
                    void* dgamma, void* dbeta) {
  return refuse_on_exception(desc, params, [&](const auto& dd, const auto& p) {
    implementation().renorm_backward(dd, p, dy, x, gamma, save_mean, save_invstd, r, d, dx,
                                     dgamma, dbeta);
  });
}

// The table, with NULL for each operation the implementation does not provide.
bnh_impl_v1 make_table() {
  static const std::string name = implementation().name();
  static const std::string description = implementation().description();
  auto provided = [](Operation operation, auto function) {
    return implementation().supports(operation) ? function : nullptr;
  };
  return {BNH_ABI_VERSION,
          name.c_str(),
          description.c_str(),
          supports,
          provided(Operation::bn_forward_train, bn_forward_train),
          provided(Operation::bn_forward_infer, bn_forward_infer),
          provided(Operation::bn_backward, bn_backward),
          provided(Operation::renorm_forward_train, renorm_forward_train),
          provided(Operation::renorm_backward, renorm_backward),
          last_error};
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const bnh_impl_v1* bnh_impl_v1_get(void) {
  try {
    static const bnh_impl_v1 table = make_table();
    return &table;
  } catch (...) {
    return nullptr;  // the loader reports "bnh_impl_v1_get returned NULL"
  }
}
