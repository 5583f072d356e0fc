#include "cli/output_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "bnh/types.hpp"

namespace bnh::cli {

namespace {

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void check_writable(const std::string& path) {
  if (path.empty()) throw Error("cannot write an empty path");
  struct stat info {};
  if (stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) throw Error("cannot write " + path + ": it is a folder");
    if (access(path.c_str(), W_OK) != 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  }
  const std::string folder = folder_of(path);
  if (stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    throw Error("cannot write " + path + ": no folder " + folder);
  }
  // The file is replaced by a rename, which needs the folder writable even if the file is.
  if (access(folder.c_str(), W_OK | X_OK) != 0) {
    throw Error("cannot write " + path + ": folder " + folder + ": " + std::strerror(errno));
  }
}

std::string output_path(const Arguments& arguments, const std::string& default_path) {
  if (arguments.has("--output")) {
    const std::string path = arguments.value("--output", "");
    check_writable(path);
    return path;
  }
  const std::string folder = folder_of(default_path);
  struct stat info {};
  if (stat(folder.c_str(), &info) != 0 && mkdir(folder.c_str(), 0777) != 0) {
    throw Error("cannot write " + default_path + ": cannot create folder " + folder + ": " + std::strerror(errno));
  }
  check_writable(default_path);
  return default_path;
}

void write_file(const std::string& path, const std::string& text) {
  check_writable(path);
  const std::string temporary = path + ".partial." + std::to_string(getpid());
  bool written = false;
  {
    std::ofstream out(temporary, std::ios::binary);
    if (out) {
      out << text;
      out.flush();
      written = static_cast<bool>(out);
    }
  }
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw Error("cannot write " + path + ": " + reason);
  }
}

}  // namespace bnh::cli
