#include "bnh/isolated_call.hpp"

#include <csignal>
#include <cstring>
#include <ctime>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bnh {

namespace {

constexpr std::size_t guard_bytes = 256;
constexpr unsigned char guard_pattern = 0xCB;
constexpr std::size_t message_bytes = 1024;

std::size_t rounded_up(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// The child's report, at the start of the shared region.
struct ChildReport {
  int finished;
  int status;
  char message[message_bytes];
};

class SharedRegion {
 public:
  explicit SharedRegion(std::size_t bytes) : bytes_(bytes) {
    memory_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory_ == MAP_FAILED) throw Error("cannot map " + std::to_string(bytes_) + " bytes for an isolated call");
  }
  ~SharedRegion() { munmap(memory_, bytes_); }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  unsigned char* bytes() const { return static_cast<unsigned char*>(memory_); }

 private:
  std::size_t bytes_;
  void* memory_;
};

std::string signal_name(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV (segmentation fault)";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT (abort)";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    default: return "signal " + std::to_string(signal);
  }
}

// First byte of [begin, begin + count) that is not the guard pattern, or -1.
long first_changed(const unsigned char* begin, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (begin[i] != guard_pattern) return static_cast<long>(i);
  }
  return -1;
}

}  // namespace

IsolatedResult run_isolated(const std::string& what, const std::vector<IsolatedBuffer>& buffers,
                            const std::function<int(const std::vector<void*>&)>& call,
                            const std::function<const char*()>& last_error,
                            double timeout_seconds) {
  // Layout: the report, then for each buffer: guard, data (rounded up), guard.
  std::vector<std::size_t> offsets;
  std::size_t total = rounded_up(sizeof(ChildReport));
  for (const auto& buffer : buffers) {
    offsets.push_back(total + guard_bytes);
    total += guard_bytes + rounded_up(buffer.bytes) + guard_bytes;
  }
  SharedRegion region(total);
  unsigned char* base = region.bytes();
  std::memset(base + rounded_up(sizeof(ChildReport)), guard_pattern, total - rounded_up(sizeof(ChildReport)));
  std::vector<void*> pointers;
  for (std::size_t k = 0; k < buffers.size(); ++k) {
    unsigned char* data = base + offsets[k];
    if (buffers[k].source == nullptr && buffers[k].destination == nullptr) {
      pointers.push_back(nullptr);
      continue;
    }
    if (buffers[k].source != nullptr) {
      std::memcpy(data, buffers[k].source, buffers[k].bytes);
    } else {
      std::memset(data, 0xFF, buffers[k].bytes);  // NaN in every float format
    }
    // The rounding slack after the data belongs to the guard.
    pointers.push_back(data);
  }
  auto* report = reinterpret_cast<ChildReport*>(base);
  report->finished = 0;

  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) throw Error("cannot fork for an isolated call: " + std::string(std::strerror(errno)));
  if (child == 0) {
    const int status = call(pointers);
    report->status = status;
    if (status != 0) {
      const char* message = last_error ? last_error() : nullptr;
      std::strncpy(report->message, message != nullptr ? message : "", message_bytes - 1);
    }
    report->finished = 1;
    _exit(0);
  }

  // Wait, polling, up to the timeout.
  int wait_status = 0;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  long sleep_ns = 20000;
  for (;;) {
    const pid_t done = waitpid(child, &wait_status, WNOHANG);
    if (done == child) break;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double elapsed = double(now.tv_sec - start.tv_sec) + 1e-9 * double(now.tv_nsec - start.tv_nsec);
    if (elapsed > timeout_seconds) {
      kill(child, SIGKILL);
      waitpid(child, &wait_status, 0);
      throw PluginFault(what + " hung: no result within " + std::to_string(timeout_seconds) + " s (killed)");
    }
    const timespec pause{0, sleep_ns};
    nanosleep(&pause, nullptr);
    if (sleep_ns < 5000000) sleep_ns *= 2;
  }
  if (WIFSIGNALED(wait_status)) {
    throw PluginFault(what + " crashed with " + signal_name(WTERMSIG(wait_status)));
  }
  if (!WIFEXITED(wait_status) || report->finished != 1) {
    // exit() from the callee, or a sanitizer's handler turning a signal into an exit.
    throw PluginFault(what + " crashed: exited without returning (status " +
                      std::to_string(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1) + ")");
  }

  for (std::size_t k = 0; k < buffers.size(); ++k) {
    if (pointers[k] == nullptr) continue;
    const unsigned char* data = base + offsets[k];
    const std::size_t slack = rounded_up(buffers[k].bytes) - buffers[k].bytes;
    const long before = first_changed(data - guard_bytes, guard_bytes);
    if (before >= 0) {
      throw PluginFault(what + " wrote outside its buffers: " + std::to_string(guard_bytes - before) +
                        " bytes before the start of " + buffers[k].name);
    }
    const long after = first_changed(data + buffers[k].bytes, slack + guard_bytes);
    if (after >= 0) {
      throw PluginFault(what + " wrote outside its buffers: at byte " + std::to_string(after) +
                        " past the end of " + buffers[k].name + " (" + std::to_string(buffers[k].bytes) +
                        " bytes)");
    }
    if (buffers[k].destination == nullptr && std::memcmp(data, buffers[k].source, buffers[k].bytes) != 0) {
      throw PluginFault(what + " modified its read-only input " + buffers[k].name);
    }
  }
  IsolatedResult result;
  result.status = report->status;
  result.message = report->message;
  if (result.status == 0) {
    for (std::size_t k = 0; k < buffers.size(); ++k) {
      if (buffers[k].destination != nullptr && pointers[k] != nullptr) {
        std::memcpy(buffers[k].destination, base + offsets[k], buffers[k].bytes);
      }
    }
  }
  return result;
}

}  // namespace bnh
