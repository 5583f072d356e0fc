#include "core/sandbox_guards.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bnh/validate.hpp"

namespace bnh::sandbox {

std::size_t page_bytes() {
  static const auto bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

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

const char* phase_description(Phase phase, bool synchronized) {
  switch (phase) {
    case Phase::starting: return "while starting";
    case Phase::loading: return "while loading (in its library constructors)";
    case Phase::getting_table:
      return synchronized ? "while loading (in bnh_sync_impl_v1_get)" : "while loading (in bnh_impl_v1_get)";
    case Phase::getting_table_v2: return "while loading (in bnh_impl_v2_get)";
    case Phase::collective: return "in a collective (copying its values)";
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

std::string locate(const ControlBlock& control) {
  const OperationSpec* spec = operation_of(control.operation);
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

std::size_t buffer_bytes(Extent extent, TensorDesc desc, bool shard) {
  const bool empty_shard = shard && desc.n == 0;
  if (empty_shard) desc.n = 1;
  try {
    validate_desc(desc);
  } catch (const Error&) {
    return 0;
  }
  if (empty_shard && extent == Extent::tensor) return 0;
  return bytes_in(extent, desc);
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

// The first byte of [begin, begin + count) that lost its canary, or -1. Compared a page at a
// time with memcmp: the slack around small buffers is most of a page each, on every call.
std::int64_t first_changed(const unsigned char* begin, std::size_t count) {
  static const std::vector<unsigned char> canaries(4096, canary);
  for (std::size_t done = 0; done < count; done += canaries.size()) {
    const std::size_t length = std::min(canaries.size(), count - done);
    if (std::memcmp(begin + done, canaries.data(), length) == 0) continue;
    for (std::size_t i = done; i < done + length; ++i) {
      if (begin[i] != canary) return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}


}  // namespace bnh::sandbox
