// bnh-sandbox: the process that hosts one plugin for the harness (core/sandbox.cpp starts it).
// It loads the library, then serves calls on the arena's buffers until the harness goes away.
// Whatever the plugin does to this process (crash, hang, FP environment, stray threads) stays
// here; a fault handler first notes where a bad access landed so that the harness can name the
// buffer and the offset.
//   bnh-sandbox PLUGIN_PATH                  (fds 3, 4, 5 as in core/sandbox_protocol.hpp)
//   bnh-sandbox --synchronized PLUGIN_PATH   (and fd 6, the exchange area of the collectives)
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/plugin_table.hpp"
#include "core/sandbox_protocol.hpp"
#include "core/sync_plugin_table.hpp"

namespace {

using namespace bnh::sandbox;

ControlBlock* control = nullptr;
unsigned char* arena = nullptr;
std::size_t arena_mapped = 0;

void copy_text(char* destination, const char* source) {
  if (source == nullptr) source = "";
  std::strncpy(destination, source, text_bytes - 1);
  destination[text_bytes - 1] = '\0';
}

void on_fault(int signal_number, siginfo_t* info, void* context) {
  control->fault_signal = signal_number;
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const auto base = reinterpret_cast<std::uintptr_t>(arena);
  if (arena != nullptr && address >= base && address < base + arena_mapped) {
    control->fault_in_arena = 1;
    control->fault_offset = address - base;
  }
#if defined(__x86_64__)
  // Bit 1 of the page-fault error code: the access was a write.
  const auto* user_context = static_cast<const ucontext_t*>(context);
  control->fault_is_write = (user_context->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
  (void)context;
#endif
  // Returning re-runs the access under the default action: the process dies of this signal.
  signal(signal_number, SIG_DFL);
}

void install_fault_handlers() {
  static char alternate_stack[64 * 1024];
  stack_t stack{};
  stack.ss_sp = alternate_stack;
  stack.ss_size = sizeof alternate_stack;
  sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
  sigaction(SIGBUS, &action, nullptr);
}

void send_message(Message message) {
  if (send(socket_fd, &message, sizeof message, MSG_NOSIGNAL) != sizeof message) _exit(0);
}

// Maps the arena anew when the harness has grown it.
void map_arena() {
  if (arena_mapped == control->arena_bytes) return;
  if (arena != nullptr) munmap(arena, arena_mapped);
  arena_mapped = control->arena_bytes;
  void* memory = mmap(nullptr, arena_mapped, PROT_NONE, MAP_SHARED, arena_fd, 0);
  if (memory == MAP_FAILED) _exit(111);
  arena = static_cast<unsigned char*>(memory);
}

// The arena is inaccessible but for the regions of the current call: inputs (by the operation's
// table) read-only, the other buffers writable. Every region therefore lies between PROT_NONE
// pages. A call with the same operation and layout as the one before keeps the protections it has.
void protect_buffers(const bnh::OperationSpec& spec) {
  static BufferSlot applied[bnh::max_operation_buffers];
  static std::int32_t applied_operation = -1;
  static std::size_t applied_arena = 0;
  const std::size_t slots_bytes = sizeof(BufferSlot) * spec.count;
  if (control->operation == applied_operation && applied_arena == arena_mapped &&
      std::memcmp(applied, control->buffers, slots_bytes) == 0) {
    return;
  }
  mprotect(arena, arena_mapped, PROT_NONE);
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSlot& slot = control->buffers[k];
    if (slot.present == 0 || slot.region_bytes == 0) continue;
    const bool read_only = spec.buffers[k].role == bnh::BufferRole::input;
    mprotect(arena + slot.region_offset, slot.region_bytes, read_only ? PROT_READ : PROT_READ | PROT_WRITE);
  }
  std::memcpy(applied, control->buffers, slots_bytes);
  applied_operation = control->operation;
  applied_arena = arena_mapped;
}

// The plugin's table: the plain one (of either version), or the synchronized one (--synchronized).
struct Plugin {
  bnh::plugin_table::PlainTable plain;
  const bnh_sync_impl_v1* synchronized = nullptr;

  int supports(const bnh_tensor_desc_v2& desc) const {
    if (synchronized == nullptr) return plain.supports(desc);
    const bnh_tensor_desc old = bnh::plugin_table::v1_desc(desc);
    return synchronized->supports == nullptr ? 1 : synchronized->supports(&old);
  }
  const char* last_error() const {
    if (synchronized == nullptr) return plain.last_error();
    return synchronized->last_error != nullptr ? synchronized->last_error() : "";
  }
};

// A synchronized plugin's collectives: the values go to the harness through the exchange area,
// which carries the collective out with this rank's communicator and answers.
unsigned char* exchange_area = nullptr;
std::size_t exchange_mapped = 0;

int forward_collective(CollectiveKind kind, const double* values, std::int64_t count, double* results) {
  const std::int64_t bytes = exchange_bytes(kind, count, control->size);
  if (bytes < 0 || (count > 0 && (values == nullptr || results == nullptr))) return 1;
  auto needed = static_cast<std::size_t>(bytes);
  if (needed > exchange_mapped) {
    if (exchange_area != nullptr) munmap(exchange_area, exchange_mapped);
    exchange_area = nullptr;
    exchange_mapped = 0;
    // Grown, never shrunk: the harness may have it mapped at the size an earlier worker left.
    struct stat file {};
    if (fstat(exchange_fd, &file) != 0) return 1;
    if (static_cast<std::size_t>(file.st_size) < needed && ftruncate(exchange_fd, static_cast<off_t>(needed)) != 0) return 1;
    needed = std::max(needed, static_cast<std::size_t>(file.st_size));
    void* memory = mmap(nullptr, needed, PROT_READ | PROT_WRITE, MAP_SHARED, exchange_fd, 0);
    if (memory == MAP_FAILED) return 1;
    exchange_area = static_cast<unsigned char*>(memory);
    exchange_mapped = needed;
  }
  const auto value_bytes = static_cast<std::size_t>(count) * sizeof(double);
  control->phase = Phase::collective;
  if (count > 0) std::memcpy(exchange_area, values, value_bytes);
  control->collective = {kind, count, 1};
  control->phase = Phase::calling;
  send_message(Message::collective);
  Message answer{};
  if (recv(socket_fd, &answer, sizeof answer, 0) != sizeof answer) _exit(0);  // harness gone
  if (answer != Message::collective_done) _exit(113);
  if (control->collective.status != 0) return control->collective.status;
  control->phase = Phase::collective;
  if (count > 0) std::memcpy(results, exchange_area + value_bytes, static_cast<std::size_t>(bytes) - value_bytes);
  control->phase = Phase::calling;
  return 0;
}

int all_gather(const bnh_communicator*, const double* values, std::int64_t count, double* gathered) {
  return forward_collective(CollectiveKind::all_gather, values, count, gathered);
}

int all_reduce_sum(const bnh_communicator*, double* values, std::int64_t count) {
  return forward_collective(CollectiveKind::all_reduce_sum, values, count, values);
}

int run_call(const Plugin& plugin, const bnh::OperationSpec& spec) {
  bnh::OperationBuffers buffers;
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSlot& slot = control->buffers[k];
    buffers[k] = slot.present != 0 ? arena + slot.data_offset : nullptr;
  }
  if (plugin.synchronized == nullptr) return plugin.plain.call(spec.operation, control->desc, control->params, buffers);
  const bnh_communicator communicator{nullptr, control->rank, control->size, all_gather, all_reduce_sum};
  const bnh_tensor_desc desc = bnh::plugin_table::v1_desc(control->desc);
  return bnh::sync_plugin_table::call(*plugin.synchronized, spec.operation, &communicator, &desc,
                                      &control->params, buffers);
}

[[noreturn]] void refuse_library(const char* message) {
  copy_text(control->message, message);
  send_message(Message::load_failed);
  _exit(0);
}

// What the harness learns of a usable table: its name and what it provides.
template <typename Table>
void describe(const Table& table, std::uint32_t abi_version) {
  copy_text(control->name, table.name);
  copy_text(control->description, table.description);
  control->abi_version = abi_version;
  control->operations = bnh::plugin_table::provided_operations(table);
  control->has_supports = table.supports != nullptr;
}

const bnh_sync_impl_v1* synchronized_table(void* library) {
  using Getter = const bnh_sync_impl_v1* (*)();
  auto get = reinterpret_cast<Getter>(dlsym(library, "bnh_sync_impl_v1_get"));
  if (get == nullptr) refuse_library("does not export bnh_sync_impl_v1_get");
  control->phase = Phase::getting_table;
  const bnh_sync_impl_v1* table = get();
  if (const std::string reason = bnh::sync_plugin_table::defect(table); !reason.empty()) refuse_library(reason.c_str());
  describe(*table, BNH_SYNC_ABI_VERSION);
  return table;
}

bnh::plugin_table::PlainTable plain_table(void* library) {
  bnh::plugin_table::PlainTable table;
  const std::string reason = bnh::plugin_table::find_table(library, table, [](const char* symbol) {
    control->phase = std::strcmp(symbol, "bnh_impl_v2_get") == 0 ? Phase::getting_table_v2 : Phase::getting_table;
  });
  if (!reason.empty()) refuse_library(reason.c_str());
  if (table.v2 != nullptr) {
    describe(*table.v2, BNH_ABI_VERSION_2);
  } else {
    describe(*table.v1, BNH_ABI_VERSION);
  }
  return table;
}

Plugin load(const char* path, bool synchronized) {
  control->phase = Phase::loading;
  void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = dlerror();
    char text[text_bytes];
    std::snprintf(text, sizeof text, "cannot load plugin %s: %s", path, reason ? reason : "unknown error");
    refuse_library(text);
  }
  Plugin plugin;
  if (synchronized) {
    plugin.synchronized = synchronized_table(library);
  } else {
    plugin.plain = plain_table(library);
  }
  return plugin;
}

}  // namespace

int main(int argc, char** argv) {
  const bool synchronized = argc == 3 && std::strcmp(argv[1], synchronized_flag) == 0;
  if (argc != 2 && !synchronized) {
    std::fprintf(stderr, "bnh-sandbox: started by bnh to host a plugin; not for direct use\n");
    return 2;
  }
  void* block = mmap(nullptr, sizeof(ControlBlock), PROT_READ | PROT_WRITE, MAP_SHARED, control_fd, 0);
  if (block == MAP_FAILED) return 111;
  control = static_cast<ControlBlock*>(block);
  install_fault_handlers();
  const Plugin plugin = load(argv[argc - 1], synchronized);
  control->phase = Phase::idle;
  send_message(Message::ready);
  std::uint32_t served = 0;  // the request being answered, for the harness's busy-wait
  for (;;) {
    Message request{};
    if (recv(socket_fd, &request, sizeof request, 0) != sizeof request) _exit(0);  // harness gone
    served = __atomic_load_n(&control->requests, __ATOMIC_ACQUIRE);
    control->fault_signal = 0;
    control->fault_in_arena = 0;
    if (request == Message::supports) {
      control->phase = Phase::supports;
      control->status = plugin.supports(control->desc);
    } else if (request == Message::call) {
      const bnh::OperationSpec* spec = operation_of(control->operation);
      if (spec == nullptr) _exit(112);  // the harness names only the five operations
      map_arena();
      protect_buffers(*spec);
      control->phase = Phase::calling;
      control->status = run_call(plugin, *spec);
      if (control->status != 0) {
        control->phase = Phase::last_error;
        copy_text(control->message, plugin.last_error());
      }
    }
    control->phase = Phase::idle;
    __atomic_store_n(&control->replies, served, __ATOMIC_RELEASE);
    send_message(Message::done);
  }
}
