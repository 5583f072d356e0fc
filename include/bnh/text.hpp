// Strings that come from outside code (a plugin's name, description, error messages) made safe
// to print and to store: they may hold anything, including invalid UTF-8, newlines and
// terminal escape sequences.
#pragma once

#include <string>
#include <string_view>

namespace bnh {

// Valid UTF-8: every byte that does not belong to a well-formed sequence becomes U+FFFD.
std::string valid_utf8(std::string_view text);

// One line for a terminal: valid UTF-8 in which control characters (newline, escape, DEL and
// the C1 range) are written as \n, \t, \r or \xNN, and a backslash as \\.
std::string printable(std::string_view text);

}  // namespace bnh
