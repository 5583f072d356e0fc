// Files a command writes. A long run checks its output paths first, so that a path it cannot
// write is refused before the run, not after it; a file is written whole or not at all.
#pragma once

#include <string>

namespace bnh::cli {

// Throws bnh::Error ("cannot write PATH: why") unless PATH can be created or replaced: its
// folder exists and is writable, and PATH is not a folder. Creates nothing.
void check_writable(const std::string& path);

// check_writable for a command's default output (reports/latest.json), whose folder the command
// creates when it is missing; a path the user names must be in a folder that exists.
void check_default_output(const std::string& path);

// Writes `text` to a temporary file beside PATH and renames it over PATH; on any failure the
// temporary file is removed and bnh::Error says why.
void write_file(const std::string& path, const std::string& text);

}  // namespace bnh::cli
