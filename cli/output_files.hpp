// Files a command writes. A long run checks its output paths first, so that a path it cannot
// write is refused before the run, not after it; a file is written whole or not at all.
#pragma once

#include <string>

#include "cli/arguments.hpp"

namespace bnh::cli {

// Throws bnh::Error ("cannot write PATH: why") unless PATH can be created or replaced: its
// folder exists and is writable, and PATH is not a folder. Creates nothing.
void check_writable(const std::string& path);

// The report a long run writes, checked by check_writable before the run: `--output PATH`, whose
// folder must exist, or else `default_path` (out/latest.json), whose folder is created when
// missing.
std::string output_path(const Arguments& arguments, const std::string& default_path);

// Writes `text` to a temporary file beside PATH and renames it over PATH; on any failure the
// temporary file is removed and bnh::Error says why.
void write_file(const std::string& path, const std::string& text);

}  // namespace bnh::cli
