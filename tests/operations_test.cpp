// The table of the five operations (bnh/operations.hpp): it agrees with the argument lists of
// bnh/plugin.h and of bnh::Implementation, says what docs/plugin-abi.md says of each buffer, and
// call() in both directions passes every buffer to the right operation in the right place.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bnh/implementation.hpp"
#include "bnh/operations.hpp"
#include "bnh/validate.hpp"
#include "core/plugin_table.hpp"

namespace bnh {
namespace {

// The static check: position for position, inputs are `const void*`, the rest `void*`.
static_assert(agrees(operation_spec(Operation::bn_forward_train), decltype(bnh_impl_v1::bn_forward_train){}));
static_assert(agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_impl_v1::bn_forward_infer){}));
static_assert(agrees(operation_spec(Operation::bn_backward), decltype(bnh_impl_v1::bn_backward){}));
static_assert(agrees(operation_spec(Operation::renorm_forward_train), decltype(bnh_impl_v1::renorm_forward_train){}));
static_assert(agrees(operation_spec(Operation::renorm_backward), decltype(bnh_impl_v1::renorm_backward){}));
static_assert(agrees(operation_spec(Operation::bn_forward_train), &Implementation::bn_forward_train));
static_assert(agrees(operation_spec(Operation::renorm_backward), &Implementation::renorm_backward));
// ... and the check itself can fail: the table's bn_backward is not the C ABI's bn_forward_train.
static_assert(!agrees(operation_spec(Operation::bn_backward), decltype(bnh_impl_v1::bn_forward_train){}));
static_assert(!agrees(operation_spec(Operation::bn_forward_infer), decltype(bnh_impl_v1::bn_forward_train){}));

std::vector<std::string> names_with(Operation operation, BufferRole role) {
  std::vector<std::string> names;
  for (const BufferSpec& buffer : operation_spec(operation)) {
    if (buffer.role == role) names.push_back(buffer.name);
  }
  return names;
}

using Names = std::vector<std::string>;

TEST(Operations, TableIsInTheOrderOfAllOperations) {
  for (Operation operation : all_operations) {
    EXPECT_EQ(operation, operation_spec(operation).operation) << to_string(operation);
    EXPECT_LE(operation_spec(operation).count, max_operation_buffers);
  }
}

TEST(Operations, ReadsWritesAndUpdatesWhatTheAbiSays) {
  using O = Operation;
  const auto in = BufferRole::input, out = BufferRole::output, both = BufferRole::in_out;
  EXPECT_EQ((Names{"x", "gamma", "beta"}), names_with(O::bn_forward_train, in));
  EXPECT_EQ((Names{"y", "save_mean", "save_invstd"}), names_with(O::bn_forward_train, out));
  EXPECT_EQ((Names{"running_mean", "running_var"}), names_with(O::bn_forward_train, both));
  EXPECT_EQ((Names{"x", "gamma", "beta", "running_mean", "running_var"}), names_with(O::bn_forward_infer, in));
  EXPECT_EQ((Names{"y"}), names_with(O::bn_forward_infer, out));
  EXPECT_EQ((Names{"dy", "x", "gamma", "save_mean", "save_invstd"}), names_with(O::bn_backward, in));
  EXPECT_EQ((Names{"dx", "dgamma", "dbeta"}), names_with(O::bn_backward, out));
  EXPECT_EQ((Names{"x", "gamma", "beta"}), names_with(O::renorm_forward_train, in));
  EXPECT_EQ((Names{"y", "save_mean", "save_invstd", "r", "d"}), names_with(O::renorm_forward_train, out));
  EXPECT_EQ((Names{"running_mean", "running_var"}), names_with(O::renorm_forward_train, both));
  EXPECT_EQ((Names{"dy", "x", "gamma", "save_mean", "save_invstd", "r", "d"}), names_with(O::renorm_backward, in));
  EXPECT_EQ((Names{"dx", "dgamma", "dbeta"}), names_with(O::renorm_backward, out));
  for (Operation operation : {O::bn_forward_infer, O::bn_backward, O::renorm_backward}) {
    EXPECT_TRUE(names_with(operation, both).empty()) << to_string(operation);
  }
}

TEST(Operations, OnlyTheTensorsHoldTheWholeTensorAndOnlyBatchNormTrackingIsOptional) {
  const Names tensors{"x", "y", "dy", "dx"};
  for (Operation operation : all_operations) {
    for (const BufferSpec& buffer : operation_spec(operation)) {
      const bool is_tensor = std::find(tensors.begin(), tensors.end(), buffer.name) != tensors.end();
      EXPECT_EQ(is_tensor ? Extent::tensor : Extent::channel, buffer.extent) << buffer.name;
      const bool tracking = operation == Operation::bn_forward_train && buffer.role == BufferRole::in_out;
      EXPECT_EQ(tracking, buffer.optional) << to_string(operation) << " " << buffer.name;
      EXPECT_LT(std::string(buffer.name).size(), 16u);  // the sandbox's slots name them in 16 bytes
    }
  }
  const TensorDesc desc{2, 3, 4, 5, Layout::nhwc, DType::f64};
  EXPECT_EQ(120, values_in(Extent::tensor, desc));
  EXPECT_EQ(3, values_in(Extent::channel, desc));
}

TEST(Operations, IndexOfFindsABufferByName) {
  EXPECT_EQ(0, operation_spec(Operation::bn_forward_train).index_of("x"));
  EXPECT_EQ(1, operation_spec(Operation::bn_backward).index_of("x"));
  EXPECT_EQ(7, operation_spec(Operation::renorm_forward_train).index_of("d"));
  EXPECT_EQ(-1, operation_spec(Operation::bn_backward).index_of("r"));
}

// Distinct addresses, one per position, to see which lands where.
struct Slots {
  char bytes[max_operation_buffers] = {};
  OperationBuffers buffers() {
    OperationBuffers result;
    for (std::size_t k = 0; k < max_operation_buffers; ++k) result[k] = &bytes[k];
    return result;
  }
};

// Records which member was called with which buffers.
class Recorder final : public Implementation {
 public:
  Operation called{};
  std::vector<const void*> seen;

  std::string name() const override { return "recorder"; }
  std::string description() const override { return ""; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation) const override { return true; }
  void bn_forward_train(const TensorDesc&, const Params&, const void* a, const void* b, const void* c,
                        void* d, void* e, void* f, void* g, void* h) override {
    note(Operation::bn_forward_train, {a, b, c, d, e, f, g, h});
  }
  void bn_forward_infer(const TensorDesc&, const Params&, const void* a, const void* b, const void* c,
                        const void* d, const void* e, void* f) override {
    note(Operation::bn_forward_infer, {a, b, c, d, e, f});
  }
  void bn_backward(const TensorDesc&, const Params&, const void* a, const void* b, const void* c,
                   const void* d, const void* e, void* f, void* g, void* h) override {
    note(Operation::bn_backward, {a, b, c, d, e, f, g, h});
  }
  void renorm_forward_train(const TensorDesc&, const Params&, const void* a, const void* b,
                            const void* c, void* d, void* e, void* f, void* g, void* h, void* i,
                            void* j) override {
    note(Operation::renorm_forward_train, {a, b, c, d, e, f, g, h, i, j});
  }
  void renorm_backward(const TensorDesc&, const Params&, const void* a, const void* b,
                       const void* c, const void* d, const void* e, const void* f, const void* g,
                       void* h, void* i, void* j) override {
    note(Operation::renorm_backward, {a, b, c, d, e, f, g, h, i, j});
  }

 private:
  void note(Operation operation, std::vector<const void*> buffers) {
    called = operation;
    seen = std::move(buffers);
  }
};

std::vector<const void*> first(const OperationBuffers& buffers, std::size_t count) {
  return std::vector<const void*>(buffers.pointers, buffers.pointers + count);
}

// The other direction: the five members of a UniformImplementation gather their arguments into
// the table's order.
class Gatherer final : public UniformImplementation {
 public:
  Operation called{};
  std::vector<const void*> seen;

  std::string name() const override { return "gatherer"; }
  std::string description() const override { return ""; }
  bool supports(const TensorDesc&) const override { return true; }
  bool supports(Operation) const override { return true; }
  void run(Operation operation, const TensorDesc&, const Params&, const OperationBuffers& buffers) override {
    called = operation;
    seen = first(buffers, operation_spec(operation).count);
  }
};

// call() on each operation reaches `Observer` as that operation, with the buffers in order.
template <typename Observer>
void expect_routed() {
  Slots slots;
  const OperationBuffers buffers = slots.buffers();
  for (Operation operation : all_operations) {
    Observer observer;
    call(observer, operation, TensorDesc{}, Params{}, buffers);
    EXPECT_EQ(operation, observer.called) << to_string(operation);
    EXPECT_EQ(first(buffers, operation_spec(operation).count), observer.seen) << to_string(operation);
  }
}

TEST(Operations, CallRoutesEachOperationToItsMemberWithTheBuffersInOrder) { expect_routed<Recorder>(); }

TEST(Operations, UniformImplementationGathersEveryMembersArgumentsInTableOrder) { expect_routed<Gatherer>(); }

// A C table whose functions record which one ran and with what.
int last_function = -1;
std::vector<const void*> last_buffers;
template <int index, typename... Buffers>
int record(const bnh_tensor_desc*, const bnh_params*, Buffers... buffers) {
  last_function = index;
  last_buffers = {buffers...};
  return 40 + index;
}

TEST(Operations, PluginTableCallRoutesEachOperationToItsFunction) {
  bnh_impl_v1 table{};
  table.bn_forward_train = record<0>;
  table.bn_forward_infer = record<1>;
  table.bn_backward = record<2>;
  table.renorm_forward_train = record<3>;
  table.renorm_backward = record<4>;
  EXPECT_EQ(0x1Fu, plugin_table::provided_operations(table));
  Slots slots;
  const OperationBuffers buffers = slots.buffers();
  const bnh_tensor_desc desc{};
  const bnh_params params{};
  for (Operation operation : all_operations) {
    const int index = static_cast<int>(operation);
    EXPECT_EQ(40 + index, plugin_table::call(table, operation, &desc, &params, buffers));
    EXPECT_EQ(index, last_function);
    EXPECT_EQ(first(buffers, operation_spec(operation).count), last_buffers) << to_string(operation);
  }
  table.bn_backward = nullptr;
  table.renorm_forward_train = nullptr;
  EXPECT_EQ(0x13u, plugin_table::provided_operations(table));
}

TEST(Operations, ValidateBuffersNamesTheMissingOneAndKeepsTheRunningStatisticsTogether) {
  Slots slots;
  for (Operation operation : all_operations) {
    const OperationSpec& spec = operation_spec(operation);
    OperationBuffers buffers = slots.buffers();
    EXPECT_NO_THROW(validate_buffers(operation, buffers));
    for (std::size_t k = 0; k < spec.count; ++k) {
      if (spec.buffers[k].optional) continue;
      OperationBuffers missing = buffers;
      missing[k] = nullptr;
      try {
        validate_buffers(operation, missing);
        ADD_FAILURE() << to_string(operation) << " accepted NULL " << spec.buffers[k].name;
      } catch (const Error& error) {
        EXPECT_EQ(std::string(to_string(operation)) + ": " + spec.buffers[k].name + " must not be NULL", error.what());
      }
    }
  }
  const Operation train = Operation::bn_forward_train;
  const OperationSpec& spec = operation_spec(train);
  OperationBuffers untracked = slots.buffers();
  untracked[static_cast<std::size_t>(spec.index_of("running_mean"))] = nullptr;
  EXPECT_THROW(validate_buffers(train, untracked), Error);  // half of the pair
  untracked[static_cast<std::size_t>(spec.index_of("running_var"))] = nullptr;
  EXPECT_NO_THROW(validate_buffers(train, untracked));
}

}  // namespace
}  // namespace bnh
