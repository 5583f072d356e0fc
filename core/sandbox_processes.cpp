#include "core/sandbox_processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "bnh/types.hpp"
#include "core/sandbox_protocol.hpp"

namespace bnh {

namespace {

// Live workers, for the handlers of SIGINT, SIGTERM and SIGHUP and for exit: plain atomics, so
// that a signal handler may read them.
std::array<std::atomic<pid_t>, 256> live_workers{};

void kill_live_workers() {
  for (auto& slot : live_workers) {
    const pid_t worker = slot.load();
    if (worker > 0) {
      kill(-worker, SIGKILL);
      kill(worker, SIGKILL);
    }
  }
}

void on_termination(int signal_number) {
  kill_live_workers();
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

void install_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction current {};
      sigaction(signal_number, nullptr, &current);
      if (current.sa_handler == SIG_DFL) signal(signal_number, on_termination);
    }
    std::atexit(kill_live_workers);
  });
}

void remember(pid_t worker) {
  for (auto& slot : live_workers) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, worker)) return;
  }
}

void forget(pid_t worker) {
  for (auto& slot : live_workers) {
    pid_t expected = worker;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

std::string sandbox_executable() {
  if (const char* given = std::getenv("BNH_SANDBOX"); given != nullptr) {
    if (!executable(given)) throw Error(std::string("BNH_SANDBOX=") + given + " is not an executable");
    return given;
  }
  std::vector<std::string> candidates;
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length > 0) {
    std::string folder(self, static_cast<std::size_t>(length));
    folder = folder.substr(0, folder.find_last_of('/'));
    candidates.push_back(folder + "/bnh-sandbox");
  }
#ifdef BNH_SANDBOX_BUILD_PATH
  candidates.push_back(BNH_SANDBOX_BUILD_PATH);
#endif
#ifdef BNH_SANDBOX_INSTALL_PATH
  candidates.push_back(BNH_SANDBOX_INSTALL_PATH);
#endif
  for (const auto& candidate : candidates) {
    if (executable(candidate)) return candidate;
  }
  throw Error("cannot find bnh-sandbox, the program that hosts plugins (set BNH_SANDBOX to its path)");
}

// Every process whose chain of parents leads to `root`.
std::vector<pid_t> descendants_of(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
  if (DIR* proc = opendir("/proc")) {
    while (const dirent* entry = readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
      if (pid <= 0) continue;
      std::ifstream stat_file("/proc/" + std::string(entry->d_name) + "/stat");
      std::string stat;
      std::getline(stat_file, stat);
      const auto name_end = stat.rfind(')');
      if (name_end == std::string::npos) continue;
      char state = 0;
      int ppid = 0;
      if (std::sscanf(stat.c_str() + name_end + 1, " %c %d", &state, &ppid) == 2) parent_of.emplace_back(pid, ppid);
    }
    closedir(proc);
  }
  std::vector<pid_t> found{root};
  for (std::size_t k = 0; k < found.size(); ++k) {
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == found[k]) found.push_back(pid);
    }
  }
  found.erase(found.begin());
  return found;
}

pid_t fork_sandbox_worker(const std::string& plugin_path, const WorkerFiles& files);

// A worker's parent-death signal comes when the THREAD that forked it ends, not the process. The
// ranks of a synchronized plugin start their workers from threads that end with each run, so
// every worker is forked by one thread that lives as long as the process.
class Spawner {
 public:
  static pid_t run(std::function<pid_t()> fork_worker) {
    static Spawner* spawner = new Spawner;  // never destroyed: its thread outlives every static
    std::packaged_task<pid_t()> task(std::move(fork_worker));
    std::future<pid_t> result = task.get_future();
    {
      const std::lock_guard<std::mutex> lock(spawner->mutex_);
      spawner->tasks_.push_back(std::move(task));
    }
    spawner->ready_.notify_one();
    return result.get();
  }

 private:
  Spawner() {
    std::thread([this] {
      for (;;) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !tasks_.empty(); });
        std::packaged_task<pid_t()> task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
      }
    }).detach();
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<pid_t()>> tasks_;
};

}  // namespace

pid_t spawn_sandbox_worker(const std::string& plugin_path, const WorkerFiles& files) {
  return Spawner::run([&] { return fork_sandbox_worker(plugin_path, files); });
}

namespace {

pid_t fork_sandbox_worker(const std::string& plugin_path, const WorkerFiles& files) {
  install_cleanup();
  const std::string program = sandbox_executable();
  // A path without a slash would be searched for on the library path; plugins are files.
  const std::string plugin = plugin_path.find('/') == std::string::npos ? "./" + plugin_path : plugin_path;
  const bool synchronized = files.exchange >= 0;
  const char* plain_arguments[] = {"bnh-sandbox", plugin.c_str(), nullptr};
  const char* synchronized_arguments[] = {"bnh-sandbox", sandbox::synchronized_flag, plugin.c_str(), nullptr};
  const char* const* arguments = synchronized ? synchronized_arguments : plain_arguments;
  const int given[] = {files.socket, files.control, files.arena, files.exchange};
  const int file_count = synchronized ? 4 : 3;
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) throw Error(std::string("cannot start the sandbox worker: ") + std::strerror(errno));
  if (child == 0) {
    // Only async-signal-safe calls until exec: the harness may have threads.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int moved[4];
    for (int k = 0; k < file_count; ++k) moved[k] = fcntl(given[k], F_DUPFD, 10);
    for (int k = 0; k < file_count; ++k) {
      if (moved[k] < 0 || dup2(moved[k], sandbox::socket_fd + k) < 0) _exit(126);
    }
    syscall(SYS_close_range, static_cast<unsigned>(sandbox::socket_fd + file_count), ~0u, 0u);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    execv(program.c_str(), const_cast<char* const*>(arguments));
    _exit(127);
  }
  setpgid(child, child);  // also here, so that the group exists whichever runs first
  remember(child);
  return child;
}

}  // namespace

void kill_sandbox_worker(pid_t worker) {
  if (worker <= 0) return;
  const auto descendants = descendants_of(worker);
  kill(-worker, SIGKILL);
  kill(worker, SIGKILL);
  for (pid_t pid : descendants) {
    kill(pid, SIGKILL);
    // A descendant that made its own process group may have started others there.
    if (getpgid(pid) == pid) kill(-pid, SIGKILL);
  }
  while (waitpid(worker, nullptr, 0) < 0 && errno == EINTR) {
  }
  forget(worker);
}

WorkerEnd wait_for_sandbox_worker(pid_t worker) {
  WorkerEnd end;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  pid_t done = 0;
  while ((done = waitpid(worker, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (done == worker) {
    forget(worker);
    // Its process group may still hold what it started.
    kill(-worker, SIGKILL);
    if (WIFSIGNALED(status)) end.signal = WTERMSIG(status);
    if (WIFEXITED(status)) end.status = WEXITSTATUS(status);
    return end;
  }
  kill_sandbox_worker(worker);
  end.signal = SIGKILL;
  return end;
}

}  // namespace bnh
