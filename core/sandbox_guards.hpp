// The harness's side of the sandbox that needs no worker (core/sandbox.hpp): shared memory, the
// sizes of a call's guarded buffers, the canaries around them, and words for what went wrong
// (a signal, where the worker was, where a bad access landed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bnh/operations.hpp"
#include "core/sandbox_protocol.hpp"

namespace bnh::sandbox {

std::size_t page_bytes();
inline std::size_t round_up(std::size_t value, std::size_t unit) { return (value + unit - 1) / unit * unit; }

// A memfd of `bytes` (close-on-exec; the worker gets it by dup2), and a read-write mapping of one.
int shared_file(const char* name, std::size_t bytes);
void* map_shared(int file, std::size_t bytes);

// A buffer's bytes for `desc`. A shape the harness cannot size (bad input) gets empty guarded
// buffers: a plugin that refuses it, as it must, touches none of them. `shard`: a synchronized
// call's, whose n = 0 (an empty shard) is no bad input: its tensors hold nothing, its
// per-channel buffers C values.
std::size_t buffer_bytes(Extent extent, TensorDesc desc, bool shard);

// The first byte of [begin, begin + count) that lost its canary, or -1.
std::int64_t first_changed(const unsigned char* begin, std::size_t count);

std::string signal_name(int signal_number);            // "SIGSEGV (segmentation fault)"
const char* phase_description(Phase phase, bool synchronized);  // "in supports()", or ""
std::string seconds_text(double seconds);              // "10", "0.5"

// Where the bad access the worker's fault handler saw landed, in words: ": wrote to byte 4096
// past the end of y"; "" when it was outside every buffer of the call.
std::string locate(const ControlBlock& control);

}  // namespace bnh::sandbox
