// bnh-sandbox: the process that hosts one plugin for the harness (core/sandbox.cpp starts it).
// It loads the library, then serves calls on the arena's buffers until the harness goes away.
// Whatever the plugin does to this process (crash, hang, FP environment, stray threads) stays
// here; a fault handler first notes where a bad access landed so that the harness can name the
// buffer and the offset.
//   bnh-sandbox PLUGIN_PATH   (fds 3, 4, 5 as in core/sandbox_protocol.hpp)
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/plugin_table.hpp"
#include "core/sandbox_protocol.hpp"

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

int run_call(const bnh_impl_v1& table, const bnh::OperationSpec& spec) {
  bnh::OperationBuffers buffers;
  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSlot& slot = control->buffers[k];
    buffers[k] = slot.present != 0 ? arena + slot.data_offset : nullptr;
  }
  return bnh::plugin_table::call(table, spec.operation, &control->desc, &control->params, buffers);
}

[[noreturn]] void refuse_library(const char* message) {
  copy_text(control->message, message);
  send_message(Message::load_failed);
  _exit(0);
}

const bnh_impl_v1& load(const char* path) {
  control->phase = Phase::loading;
  void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = dlerror();
    char text[text_bytes];
    std::snprintf(text, sizeof text, "cannot load plugin %s: %s", path, reason ? reason : "unknown error");
    refuse_library(text);
  }
  using Getter = const bnh_impl_v1* (*)();
  auto get = reinterpret_cast<Getter>(dlsym(library, "bnh_impl_v1_get"));
  if (get == nullptr) refuse_library("does not export bnh_impl_v1_get");
  control->phase = Phase::getting_table;
  const bnh_impl_v1* table = get();
  if (const std::string defect = bnh::plugin_table::defect(table); !defect.empty()) {
    refuse_library(defect.c_str());
  }
  copy_text(control->name, table->name);
  copy_text(control->description, table->description);
  control->operations = bnh::plugin_table::provided_operations(*table);
  control->has_supports = table->supports != nullptr;
  return *table;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "bnh-sandbox: started by bnh to host a plugin; not for direct use\n");
    return 2;
  }
  void* block = mmap(nullptr, sizeof(ControlBlock), PROT_READ | PROT_WRITE, MAP_SHARED, control_fd, 0);
  if (block == MAP_FAILED) return 111;
  control = static_cast<ControlBlock*>(block);
  install_fault_handlers();
  const bnh_impl_v1& table = load(argv[1]);
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
      control->status = table.supports == nullptr ? 1 : table.supports(&control->desc);
    } else if (request == Message::call) {
      const bnh::OperationSpec* spec = operation_of(control->operation);
      if (spec == nullptr) _exit(112);  // the harness names only the five operations
      map_arena();
      protect_buffers(*spec);
      control->phase = Phase::calling;
      control->status = run_call(table, *spec);
      if (control->status != 0) {
        control->phase = Phase::last_error;
        copy_text(control->message, table.last_error != nullptr ? table.last_error() : "");
      }
    }
    control->phase = Phase::idle;
    __atomic_store_n(&control->replies, served, __ATOMIC_RELEASE);
    send_message(Message::done);
  }
}
