#include "bnh/text.hpp"

#include <cstdio>

namespace bnh {

namespace {

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::size_t sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

std::string hex_escape(unsigned char value) {
  char buffer[5];
  std::snprintf(buffer, sizeof buffer, "\\x%02X", value);
  return buffer;
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = sequence_length(text, i);
    if (length == 0) {
      result += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      result.append(text.substr(i, length));
      i += length;
    }
  }
  return result;
}

std::string printable(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = sequence_length(text, i);
    const auto lead = static_cast<unsigned char>(text[i]);
    if (length == 0) {
      result += hex_escape(lead);
      ++i;
      continue;
    }
    // C1 controls are the two-byte sequences C2 80 .. C2 9F.
    const bool c1_control = length == 2 && lead == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (length == 1 && (lead < 0x20 || lead == 0x7F)) {
      if (lead == '\n') result += "\\n";
      else if (lead == '\t') result += "\\t";
      else if (lead == '\r') result += "\\r";
      else result += hex_escape(lead);
    } else if (length == 1 && lead == '\\') {
      result += "\\\\";
    } else if (c1_control) {
      result += hex_escape(lead) + hex_escape(static_cast<unsigned char>(text[i + 1]));
    } else {
      result.append(text.substr(i, length));
    }
    i += length;
  }
  return result;
}

}  // namespace bnh
