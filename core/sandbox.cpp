#include "core/sandbox.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "bnh/communicator.hpp"
#include "bnh/text.hpp"
#include "core/sandbox_guards.hpp"
#include "core/sandbox_processes.hpp"

namespace bnh {

using sandbox::BufferSlot;
using sandbox::Message;
using sandbox::Phase;
using sandbox::buffer_bytes;
using sandbox::first_changed;
using sandbox::locate;
using sandbox::map_shared;
using sandbox::page_bytes;
using sandbox::phase_description;
using sandbox::round_up;
using sandbox::seconds_text;
using sandbox::shared_file;
using sandbox::signal_name;

Sandbox::Sandbox(std::string plugin_path, double timeout_seconds, bool synchronized)
    : path_(std::move(plugin_path)), timeout_seconds_(timeout_seconds), synchronized_(synchronized) {
  control_file_ = shared_file("bnh-sandbox-control", sizeof(sandbox::ControlBlock));
  control_ = static_cast<sandbox::ControlBlock*>(map_shared(control_file_, sizeof(sandbox::ControlBlock)));
  arena_file_ = shared_file("bnh-sandbox-arena", 0);
  if (synchronized_) exchange_file_ = shared_file("bnh-sandbox-exchange", 0);
  try {
    start();
  } catch (...) {
    munmap(control_, sizeof(sandbox::ControlBlock));
    close(control_file_);
    close(arena_file_);
    if (exchange_file_ >= 0) close(exchange_file_);
    throw;
  }
  name_ = valid_utf8(control_->name);
  description_ = valid_utf8(control_->description);
  operations_ = control_->operations;
  abi_version_ = control_->abi_version;
  has_supports_ = control_->has_supports != 0;
}

Sandbox::~Sandbox() {
  stop();
  if (arena_ != nullptr) munmap(arena_, arena_bytes_);
  munmap(control_, sizeof(sandbox::ControlBlock));
  close(control_file_);
  close(arena_file_);
  if (exchange_area_ != nullptr) munmap(exchange_area_, exchange_mapped_);
  if (exchange_file_ >= 0) close(exchange_file_);
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
  worker_ = spawn_sandbox_worker(path_, {sockets[1], control_file_, arena_file_, exchange_file_});
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
// A synchronized call's collectives are carried out meanwhile; the time they take in the harness
// (waiting for the other ranks) does not count against the timeout.
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
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds_);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ready{socket_, POLLIN, 0};
    const int polled = poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (polled < 0 && errno == EINTR) continue;
    if (polled == 0) {
      std::string where = phase_description(control_->phase, synchronized_);
      kill_sandbox_worker(worker_);
      worker_ = -1;
      fail(what + " hung" + (where.empty() ? "" : " " + where) + ": no result within " +
           seconds_text(timeout_seconds_) + " s (killed)");
    }
    Message answer{};
    const ssize_t got = recv(socket_, &answer, sizeof answer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got != sizeof answer) fail(what);
    if (answer == Message::collective && communicator_ != nullptr) {
      const auto started = std::chrono::steady_clock::now();
      serve_collective();
      deadline += std::chrono::steady_clock::now() - started;
      continue;
    }
    return answer != Message::load_failed;
  }
}

void Sandbox::fail(const std::string& what) {
  std::string message = what;
  const Phase phase = control_->phase;
  if (worker_ > 0) {
    const WorkerEnd end = wait_for_sandbox_worker(worker_);
    worker_ = -1;
    std::string where = phase_description(phase, synchronized_);
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

bool Sandbox::supports(const TensorDesc& desc) {
  const auto key = std::make_tuple(desc.n, desc.c, desc.h, desc.w, static_cast<int>(desc.layout),
                                   static_cast<int>(desc.dtype), static_cast<int>(desc.stats_dtype()));
  if (const auto found = supported_.find(key); found != supported_.end()) return found->second;
  if (!has_supports_) return supported_[key] = true;
  if (worker_ < 0) start();
  control_->desc = desc.to_c_v2();
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
  return run(operation, desc, params, buffers, reason, name_ + " " + to_string(operation));
}

int Sandbox::call_synchronized(Communicator& communicator, Operation operation, const TensorDesc& shard,
                               const Params& params, const OperationBuffers& buffers, std::string& reason,
                               std::string& collective_failure) {
  const int rank = communicator.rank();
  communicator_ = &communicator;
  collective_failure_.clear();
  struct Release {
    Communicator*& communicator;
    ~Release() { communicator = nullptr; }
  } release{communicator_};
  const int status = run(operation, shard, params, buffers, reason,
                         name_ + " " + to_string(operation) + " on rank " + std::to_string(rank));
  collective_failure = collective_failure_;
  return status;
}

// One call, its buffers guarded as the class comment says; `what` names it in a fault.
int Sandbox::run(Operation operation, const TensorDesc& desc, const Params& params,
                 const OperationBuffers& buffers, std::string& reason, const std::string& what) {
  const OperationSpec& spec = operation_spec(operation);
  if (worker_ < 0) start();
  if (communicator_ != nullptr) {
    control_->rank = communicator_->rank();
    control_->size = communicator_->size();
  }

  // Each buffer: a guard page, its region (the data at the end, 64-byte aligned), a guard page.
  const std::size_t page = page_bytes();
  BufferSlot slots[max_operation_buffers]{};
  std::size_t end = 0;
  for (std::size_t k = 0; k < spec.count; ++k) {
    BufferSlot& slot = slots[k];
    slot.present = buffers[k] != nullptr;
    if (slot.present == 0) continue;
    slot.bytes = buffer_bytes(spec.buffers[k].extent, desc, communicator_ != nullptr);
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
    } else if (slot.bytes > 0) {
      std::memcpy(data, buffers[k], slot.bytes);
    }
  }
  control_->arena_bytes = arena_bytes_;
  control_->operation = static_cast<std::int32_t>(operation);
  control_->desc = desc.to_c_v2();
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
    if (buffer.role == BufferRole::input && slot.bytes > 0 && std::memcmp(data, buffers[k], slot.bytes) != 0) {
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
    if (slots[k].present != 0 && spec.buffers[k].role != BufferRole::input && slots[k].bytes > 0) {
      std::memcpy(buffers[k], arena_ + slots[k].data_offset, slots[k].bytes);
    }
  }
  return 0;
}

}  // namespace bnh
