#include "core/sandbox.hpp"

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "bnh/text.hpp"
#include "bnh/validate.hpp"
#include "core/sandbox_processes.hpp"

namespace bnh {

using sandbox::BufferSlot;
using sandbox::Message;
using sandbox::Phase;

namespace {

std::size_t page_bytes() {
  static const auto bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}
std::size_t round_up(std::size_t value, std::size_t unit) { return (value + unit - 1) / unit * unit; }

std::string signal_name(int signal_number) {
  switch (signal_number) {
    case SIGSEGV: return "SIGSEGV (segmentation fault)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGABRT: return "SIGABRT (abort)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGKILL: return "SIGKILL";
    default: return "signal " + std::to_string(signal_number);
  }
}

const char* phase_description(Phase phase) {
  switch (phase) {
    case Phase::starting: return "while starting";
    case Phase::loading: return "while loading (in its library constructors)";
    case Phase::getting_table: return "while loading (in bnh_impl_v1_get)";
    case Phase::supports: return "in supports()";
    case Phase::calling: return "";
    case Phase::last_error: return "in last_error()";
    case Phase::idle: return "between calls";
  }
  return "";
}

void* map_shared(int file, std::size_t bytes) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
  if (memory == MAP_FAILED) throw Error("cannot map " + std::to_string(bytes) + " bytes of shared memory");
  return memory;
}

int shared_file(const char* name, std::size_t bytes) {
  const int file = memfd_create(name, MFD_CLOEXEC);
  if (file < 0 || ftruncate(file, static_cast<off_t>(bytes)) != 0) {
    throw Error(std::string("cannot create shared memory: ") + std::strerror(errno));
  }
  return file;
}

// Where a bad access landed, in words: "wrote to byte 4096 past the end of y".
std::string locate(const sandbox::ControlBlock& control) {
  const OperationSpec* spec = sandbox::operation_of(control.operation);
  if (control.fault_in_arena == 0 || spec == nullptr) return "";
  const auto offset = static_cast<std::int64_t>(control.fault_offset);
  const auto page = static_cast<std::int64_t>(page_bytes());
  const char* verb = control.fault_is_write != 0 ? "wrote to" : "read";
  for (std::size_t k = 0; k < spec->count; ++k) {
    const BufferSlot& slot = control.buffers[k];
    const BufferSpec& buffer = spec->buffers[k];
    if (slot.present == 0) continue;
    const auto region = static_cast<std::int64_t>(slot.region_offset);
    const auto region_end = region + static_cast<std::int64_t>(slot.region_bytes);
    const auto data = static_cast<std::int64_t>(slot.data_offset);
    const auto data_end = data + static_cast<std::int64_t>(slot.bytes);
    if (offset >= region - page && offset < data) {
      return std::string(": ") + verb + " byte " + std::to_string(data - offset) + " before the start of " + buffer.name;
    }
    if (offset >= data_end && offset < region_end + page) {
      return std::string(": ") + verb + " byte " + std::to_string(offset - data_end) + " past the end of " + buffer.name;
    }
    if (offset >= data && offset < data_end && buffer.role == BufferRole::input && control.fault_is_write != 0) {
      return ": wrote into its read-only input " + std::string(buffer.name) + " at byte " + std::to_string(offset - data);
    }
  }
  return "";
}

// A buffer's bytes for `desc`. A shape the harness cannot size (bad input) gets empty guarded
// buffers: a plugin that refuses it, as it must, touches none of them.
std::size_t buffer_bytes(Extent extent, const TensorDesc& desc) {
  try {
    validate_desc(desc);
  } catch (const Error&) {
    return 0;
  }
  return static_cast<std::size_t>(values_in(extent, desc)) * element_size(desc.dtype);
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

// The first byte of [begin, begin + count) that lost its canary, or -1. Compared a page at a
// time with memcmp: the slack around small buffers is most of a page each, on every call.
std::int64_t first_changed(const unsigned char* begin, std::size_t count) {
  static const std::vector<unsigned char> canaries(4096, sandbox::canary);
  for (std::size_t done = 0; done < count; done += canaries.size()) {
    const std::size_t length = std::min(canaries.size(), count - done);
    if (std::memcmp(begin + done, canaries.data(), length) == 0) continue;
    for (std::size_t i = done; i < done + length; ++i) {
      if (begin[i] != sandbox::canary) return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}

}  // namespace

Sandbox::Sandbox(std::string plugin_path, double timeout_seconds)
    : path_(std::move(plugin_path)), timeout_seconds_(timeout_seconds) {
  control_file_ = shared_file("bnh-sandbox-control", sizeof(sandbox::ControlBlock));
  control_ = static_cast<sandbox::ControlBlock*>(map_shared(control_file_, sizeof(sandbox::ControlBlock)));
  arena_file_ = shared_file("bnh-sandbox-arena", 0);
  try {
    start();
  } catch (...) {
    munmap(control_, sizeof(sandbox::ControlBlock));
    close(control_file_);
    close(arena_file_);
    throw;
  }
  name_ = valid_utf8(control_->name);
  description_ = valid_utf8(control_->description);
  operations_ = control_->operations;
  has_supports_ = control_->has_supports != 0;
}

Sandbox::~Sandbox() {
  stop();
  if (arena_ != nullptr) munmap(arena_, arena_bytes_);
  munmap(control_, sizeof(sandbox::ControlBlock));
  close(control_file_);
  close(arena_file_);
}

bool Sandbox::provides(Operation operation) const {
  return (operations_ >> static_cast<int>(operation) & 1u) != 0;
}

void Sandbox::start() {
  std::memset(static_cast<void*>(control_), 0, sizeof(sandbox::ControlBlock));
  requests_ = 0;
  control_->arena_bytes = arena_bytes_;
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw Error(std::string("cannot create a socket for the sandbox: ") + std::strerror(errno));
  }
  worker_ = spawn_sandbox_worker(path_, {sockets[1], control_file_, arena_file_});
  close(sockets[1]);
  socket_ = sockets[0];
  if (!exchange(Message::ready, "plugin " + path_)) {
    const std::string message = control_->message;
    stop();
    throw Error(message.rfind("cannot load plugin", 0) == 0 ? message : "plugin " + path_ + ": " + message);
  }
}

void Sandbox::stop() {
  if (worker_ > 0) kill_sandbox_worker(worker_);
  worker_ = -1;
  if (socket_ >= 0) close(socket_);
  socket_ = -1;
}

// Sends `request` (nothing for the first message, `ready`) and waits for the worker's answer.
// Returns false when the worker refused to load the plugin; a dead or silent worker is a fault.
bool Sandbox::exchange(Message request, const std::string& what) {
  if (request != Message::ready) {
    const std::uint32_t posted = ++requests_;
    __atomic_store_n(&control_->requests, posted, __ATOMIC_RELEASE);
    if (send(socket_, &request, sizeof request, MSG_NOSIGNAL) != sizeof request) fail(what);
    // A small call is answered sooner than a sleeping process wakes up.
    const auto spin_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(sandbox::spin_seconds);
    while (__atomic_load_n(&control_->replies, __ATOMIC_ACQUIRE) != posted &&
           std::chrono::steady_clock::now() < spin_end) {
      sched_yield();  // a busy machine gives the core to the other side
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds_);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ready{socket_, POLLIN, 0};
    const int polled = poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (polled < 0 && errno == EINTR) continue;
    if (polled == 0) {
      std::string where = phase_description(control_->phase);
      kill_sandbox_worker(worker_);
      worker_ = -1;
      fail(what + " hung" + (where.empty() ? "" : " " + where) + ": no result within " +
           seconds_text(timeout_seconds_) + " s (killed)");
    }
    Message answer{};
    const ssize_t got = recv(socket_, &answer, sizeof answer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got != sizeof answer) fail(what);
    return answer != Message::load_failed;
  }
}

void Sandbox::fail(const std::string& what) {
  std::string message = what;
  const Phase phase = control_->phase;
  if (worker_ > 0) {
    const WorkerEnd end = wait_for_sandbox_worker(worker_);
    worker_ = -1;
    std::string where = phase_description(phase);
    if (!where.empty()) where = " " + where;
    if (end.signal != 0) {
      message += " crashed" + where + " with " + signal_name(end.signal) + locate(*control_);
    } else if (phase == Phase::starting) {
      message += ": the sandbox worker could not start (exit status " + std::to_string(end.status) + ")";
    } else {
      message += " exited" + where + " with status " + std::to_string(end.status) + " instead of returning";
    }
    // A hang's own message is complete: `what` already says it.
  }
  stop();
  if (phase == Phase::starting && message.find("could not start") != std::string::npos) throw Error(message);
  throw PluginFault(message);
}

bool Sandbox::supports(const bnh_tensor_desc& desc) {
  const auto key = std::make_tuple(desc.n, desc.c, desc.h, desc.w, static_cast<int>(desc.layout),
                                   static_cast<int>(desc.dtype));
  if (const auto found = supported_.find(key); found != supported_.end()) return found->second;
  if (!has_supports_) return supported_[key] = true;
  if (worker_ < 0) start();
  control_->desc = desc;
  exchange(Message::supports, name_);
  return supported_[key] = control_->status != 0;
}

void Sandbox::ensure_arena(std::size_t bytes) {
  if (bytes <= arena_bytes_) return;
  const std::size_t grown = std::max(bytes, 2 * arena_bytes_);
  if (ftruncate(arena_file_, static_cast<off_t>(grown)) != 0) {
    throw Error("cannot grow the sandbox arena to " + std::to_string(grown) + " bytes");
  }
  if (arena_ != nullptr) munmap(arena_, arena_bytes_);
  arena_ = static_cast<unsigned char*>(map_shared(arena_file_, grown));
  arena_bytes_ = grown;
}

int Sandbox::call(Operation operation, const TensorDesc& desc, const Params& params,
                  const OperationBuffers& buffers, std::string& reason) {
  const std::string what = name_ + " " + to_string(operation);
  const OperationSpec& spec = operation_spec(operation);
  if (worker_ < 0) start();

  // Each buffer: a guard page, its region (the data at the end, 64-byte aligned), a guard page.
  const std::size_t page = page_bytes();
  BufferSlot slots[max_operation_buffers]{};
  std::size_t end = 0;
  for (std::size_t k = 0; k < spec.count; ++k) {
    BufferSlot& slot = slots[k];
    slot.present = buffers[k] != nullptr;
    if (slot.present == 0) continue;
    slot.bytes = buffer_bytes(spec.buffers[k].extent, desc);
    const std::size_t span = round_up(slot.bytes, 64);
    slot.region_offset = end + page;
    slot.region_bytes = round_up(span, page);
    slot.data_offset = slot.region_offset + slot.region_bytes - span;
    end = slot.region_offset + slot.region_bytes + page;
  }
  ensure_arena(std::max(end, page));

  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSlot& slot = slots[k];
    if (slot.present == 0) continue;
    unsigned char* region = arena_ + slot.region_offset;
    unsigned char* data = arena_ + slot.data_offset;
    std::memset(region, sandbox::canary, slot.data_offset - slot.region_offset);
    std::memset(data + slot.bytes, sandbox::canary, slot.region_offset + slot.region_bytes - slot.data_offset - slot.bytes);
    if (spec.buffers[k].role == BufferRole::output) {
      std::memset(data, 0xFF, slot.bytes);  // NaN in every float format: an unwritten output shows
    } else {
      std::memcpy(data, buffers[k], slot.bytes);
    }
  }
  control_->arena_bytes = arena_bytes_;
  control_->operation = static_cast<std::int32_t>(operation);
  control_->desc = desc.to_c();
  control_->params = params.to_c();
  std::copy(slots, slots + spec.count, control_->buffers);
  exchange(Message::call, what);

  for (std::size_t k = 0; k < spec.count; ++k) {
    const BufferSlot& slot = slots[k];
    const BufferSpec& buffer = spec.buffers[k];
    if (slot.present == 0) continue;
    const unsigned char* data = arena_ + slot.data_offset;
    const std::size_t lead = slot.data_offset - slot.region_offset;
    const std::int64_t before = first_changed(arena_ + slot.region_offset, lead);
    if (before >= 0) {
      stop();
      throw PluginFault(what + " wrote to byte " + std::to_string(static_cast<std::int64_t>(lead) - before) +
                        " before the start of " + buffer.name);
    }
    const std::int64_t after = first_changed(data + slot.bytes, slot.region_offset + slot.region_bytes - slot.data_offset - slot.bytes);
    if (after >= 0) {
      stop();
      throw PluginFault(what + " wrote to byte " + std::to_string(after) + " past the end of " + buffer.name);
    }
    if (buffer.role == BufferRole::input && std::memcmp(data, buffers[k], slot.bytes) != 0) {
      stop();
      throw PluginFault(what + " modified its read-only input " + buffer.name);
    }
  }
  const int status = control_->status;
  if (status != 0) {
    reason = valid_utf8(control_->message);
    return status;
  }
  for (std::size_t k = 0; k < spec.count; ++k) {
    if (slots[k].present != 0 && spec.buffers[k].role != BufferRole::input) {
      std::memcpy(buffers[k], arena_ + slots[k].data_offset, slots[k].bytes);
    }
  }
  return 0;
}

}  // namespace bnh
