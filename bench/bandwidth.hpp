// The machine's attainable memory bandwidth at a given number of threads: a streaming copy
// (a[i] = b[i]) and a triad (a[i] = b[i] + s * c[i]) over arrays far larger than the last-level
// cache, the two kernels of McCalpin's STREAM. The benchmarks' bandwidth fractions are taken
// against the copy: like batch norm's forward pass it reads one stream and writes one.
//
// Bytes are counted as STREAM counts them: copy 2 * 8 bytes per element, triad 3 * 8 (reads
// plus writes). The stores are streaming (non-temporal) stores, so no line is read before it is
// written and the bytes counted are the bytes moved: the bandwidth an implementation with
// streaming stores can reach. (With ordinary stores a write that misses the cache reads the
// line first, 3 * 8 bytes moved for a copy's 2 * 8 counted; glibc's memcpy decides between the
// two from the cache size the machine reports, which virtual machines misreport.) Each kernel
// runs `passes` times after a warm-up pass and the fastest pass counts (STREAM's convention:
// the best time is the least disturbed one). Threads are an OpenMP team of exactly `threads`,
// each working on its contiguous share, first touched by the thread that uses it.
#pragma once

#include <cstdint>
#include <vector>

#include "reports/schema.hpp"

namespace bnh::bench {

// threads, copy_gbps, triad_gbps, array_bytes (each of the arrays): as a report records it.
using BandwidthResult = reports::BandwidthProbe;

// array_bytes 0: 4 x the last-level cache, at least 64 MiB.
BandwidthResult measure_bandwidth(int threads, std::int64_t array_bytes = 0, int passes = 8);

// The probe's copy kernel on caller's buffers: `bytes` (a multiple of 16) from `from` to `to`
// (both 16-byte aligned) with streaming stores, split over an OpenMP team of `threads`. The
// benchmarks time it on each shape's own tensors, so that an operation's bandwidth can be set
// against a copy of the same size measured in the same rounds (bench/bounds.hpp).
void streaming_copy(void* to, const void* from, std::int64_t bytes, int threads);

// Reads `bytes` (a multiple of 16) from `from` (16-byte aligned) with the same split over the
// team, and returns their sum so that the reads cannot be left out.
std::uint64_t streaming_read(const void* from, std::int64_t bytes, int threads);

// The better of two probes of the same thread counts, per thread count and kernel.
std::vector<BandwidthResult> best_of(const std::vector<BandwidthResult>& first,
                                     const std::vector<BandwidthResult>& second);

}  // namespace bnh::bench
