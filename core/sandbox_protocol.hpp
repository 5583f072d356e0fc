// What the harness and its sandbox worker (bnh-sandbox) share. The worker is a separate process
// that loads one plugin and serves the harness's calls; the two talk through
//  - a SOCK_SEQPACKET socket carrying one Message per step, and
//  - two shared memory files: the control block (requests, results, texts, fault details) and
//    the arena (every buffer of a call, each between guard pages);
//  - for a synchronized plugin (bnh/plugin_sync.h), a third: the exchange area, where a
//    collective's values go to the harness and its results come back. The worker grows it to
//    what a collective needs; the harness carries the collective out with the rank's
//    bnh::Communicator while it waits for the call's result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "bnh/operations.hpp"
#include "bnh/plugin.h"
#include "bnh/plugin_v2.h"

namespace bnh::sandbox {

// File descriptors the worker finds open when it starts.
inline constexpr int socket_fd = 3;
inline constexpr int control_fd = 4;
inline constexpr int arena_fd = 5;
inline constexpr int exchange_fd = 6;  // synchronized plugins only

// The worker's first argument when it hosts a synchronized plugin (bnh_sync_impl_v1_get).
inline constexpr const char* synchronized_flag = "--synchronized";

enum class CollectiveKind : std::int32_t { all_gather = 1, all_reduce_sum = 2 };

// The largest exchange area a collective may need (its values and its results): a collective
// asking for more fails, on every rank alike, rather than fill shared memory.
inline constexpr std::int64_t max_exchange_bytes = std::int64_t{1} << 30;

// The bytes of the exchange area a collective needs, or -1 when it asks for too much.
inline std::int64_t exchange_bytes(CollectiveKind kind, std::int64_t count, std::int32_t size) {
  const std::int64_t results = kind == CollectiveKind::all_gather ? size : 1;
  if (count < 0 || size < 1 || count > max_exchange_bytes / 8 / (results + 1)) return -1;
  return count * (results + 1) * 8;
}

inline constexpr std::size_t text_bytes = 4096;
inline constexpr unsigned char canary = 0xCB;

// The harness busy-waits (yielding) this long for an answer before it sleeps on the socket:
// waking a sleeping process costs more than most calls of a small case take. The worker does
// not: on a busy machine its spinning would take the core the harness needs.
inline constexpr double spin_seconds = 50e-6;

// The operation a control block names, or nothing for an index out of range.
inline const OperationSpec* operation_of(std::int32_t index) {
  const bool known = index >= 0 && index < static_cast<std::int32_t>(std::size(all_operations));
  return known ? &operation_spec(static_cast<Operation>(index)) : nullptr;
}

enum class Message : std::int32_t {
  ready = 1,        // worker -> harness: the plugin is loaded, its name and table are in the block
  load_failed = 2,  // worker -> harness: the library is not a usable plugin; `message` says why
  supports = 3,     // harness -> worker: ask supports(desc)
  call = 4,         // harness -> worker: run `operation` on the buffers
  done = 5,         // worker -> harness: `status` (and `message` when nonzero) are set
  collective = 6,   // worker -> harness, during a call: carry out `collective` on the exchange area
  collective_done = 7,  // harness -> worker: `collective.status` is set, the results are in place
};

// A collective a synchronized plugin asked for. The exchange area holds the rank's `count`
// values at offset 0 and the results right after them: size * count values for all_gather,
// count for all_reduce_sum.
struct CollectiveRequest {
  CollectiveKind kind;
  std::int64_t count;
  std::int32_t status;  // written by the harness: 0, or nonzero when the collective failed
};

// Where the worker is, so that a crash can be explained.
enum class Phase : std::int32_t {
  starting,
  loading,          // dlopen: the library's constructors run
  getting_table,    // bnh_impl_v1_get (bnh_sync_impl_v1_get)
  getting_table_v2,  // bnh_impl_v2_get
  supports,
  calling,
  collective,       // copying a collective's values in or its results out
  last_error,
  idle,
};

// One buffer of a call: the buffer at the same position in bnh::operation_spec(operation), which
// says its name and whether the plugin may write it. As offsets into the arena: the region
// [region_offset, region_offset + region_bytes) is a whole number of pages with a PROT_NONE page
// on each side; the data ends within 64 bytes of the region's end and the rest of the region
// (the slack) holds the canary.
struct BufferSlot {
  std::int32_t present;  // 0: the caller passed NULL (an optional buffer it does not give)
  std::uint64_t region_offset, region_bytes, data_offset, bytes;
};

struct ControlBlock {
  // Counts of requests posted and answered (atomic, for the harness's busy-wait): every request
  // and answer is also one socket message, so the socket alone stays a complete protocol.
  std::uint32_t requests, replies;

  // Written by the harness before a request.
  std::uint64_t arena_bytes;
  std::int32_t operation;  // the index of the operation in bnh::all_operations
  bnh_tensor_desc_v2 desc;  // a version-1 table gets it without the statistics dtype
  bnh_params params;
  BufferSlot buffers[max_operation_buffers];  // as many as the operation has
  std::int32_t rank, size;  // a synchronized call's: what its bnh_communicator says

  // Written by the worker during a synchronized call, answered by the harness.
  CollectiveRequest collective;

  // Written by the worker.
  Phase phase;
  std::int32_t status;
  std::uint32_t abi_version;  // the plugin's table's: 1 or 2 (a synchronized table's: 1)
  std::uint32_t operations;  // bit k: operation k is provided
  std::uint32_t has_supports;
  char name[text_bytes], description[text_bytes], message[text_bytes];

  // Written by the worker's fault handler just before it dies.
  std::int32_t fault_signal;
  std::int32_t fault_is_write;
  std::int32_t fault_in_arena;
  std::uint64_t fault_offset;  // into the arena
};

}  // namespace bnh::sandbox
