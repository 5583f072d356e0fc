// What the ranks of `sync` exchange, and how each rank combines it into the whole batch's sums.
// One collective per training operation, the same on every rank:
//   forward:  all_gather of [M_k, mean_k(c), m2_k(c)]: 2C + 1 doubles from each rank, every
//             channel's ranks merged by Chan's update in rank order;
//   backward: all_reduce_sum of [M_k, sum dy(c), sum dy (x - mean)(c)]: 2C + 1 doubles, added in
//             rank order by the communicator.
// Every rank combines the same numbers in the same order, so every rank holds bitwise the same
// sums, and so does the next run with the same ranks and split. An empty shard sends M_k = 0 and
// zeros: Chan's update skips it, and a sum is unchanged by it.
//
// A rank that refuses its part of the call (a buffer missing, a shard of negative size) still
// joins the collective, with M_k = NaN, so that no other rank waits for it: the others then
// refuse too, naming it where the gather tells which rank it was.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/types.hpp"
#include "impls/tiles/moments.hpp"

namespace bnh::sync {

// The count a rank sends when it refused the call.
inline constexpr double refused_count = std::numeric_limits<double>::quiet_NaN();

struct BatchMoments {
  double count = 0;                     // M, the whole batch's values per channel
  std::vector<tiles::Moments> channels;  // each channel's moments over the whole batch
};

// Gathers every rank's local moments (local[c]: channel c's over the shard; M_k = local_count)
// and merges them channel by channel in rank order. Throws bnh::Error, on every rank that did
// not refuse, when some rank did.
inline BatchMoments gather_batch_moments(Communicator& communicator, const std::string& operation,
                                         double local_count, const std::vector<tiles::Moments>& local) {
  const std::int64_t channels = static_cast<std::int64_t>(local.size()), width = 2 * channels + 1;
  std::vector<double> mine(width);
  mine[0] = local_count;
  for (std::int64_t c = 0; c < channels; ++c) {
    mine[1 + c] = local[c].mean;
    mine[1 + channels + c] = local[c].m2;
  }
  std::vector<double> gathered(static_cast<std::size_t>(communicator.size()) * width);
  communicator.all_gather(mine.data(), width, gathered.data());

  BatchMoments batch;
  batch.channels.resize(channels);
  for (int rank = 0; rank < communicator.size(); ++rank) {
    const double* theirs = gathered.data() + rank * width;
    if (std::isnan(theirs[0])) {
      if (std::isnan(local_count)) continue;  // this rank refused: its own reason is thrown
      throw Error(operation + ": rank " + std::to_string(rank) + " rejected the call");
    }
    batch.count += theirs[0];
    for (std::int64_t c = 0; c < channels; ++c) {
      tiles::merge(batch.channels[c], tiles::Moments{theirs[0], theirs[1 + c], theirs[1 + channels + c]});
    }
  }
  return batch;
}

// The whole batch's gradient sums and count (M), from every rank's local ones (M_k =
// local_count). Throws bnh::Error, on every rank that did not refuse, when some rank did.
inline double reduce_gradient_sums(Communicator& communicator, const std::string& operation, double local_count,
                                   std::vector<tiles::GradientSums>& sums) {
  const std::int64_t channels = static_cast<std::int64_t>(sums.size());
  std::vector<double> message(2 * channels + 1);
  message[0] = local_count;
  for (std::int64_t c = 0; c < channels; ++c) {
    message[1 + c] = sums[c].dy;
    message[1 + channels + c] = sums[c].dy_centered;
  }
  communicator.all_reduce_sum(message.data(), static_cast<std::int64_t>(message.size()));
  if (std::isnan(message[0]) && !std::isnan(local_count)) {
    throw Error(operation + ": another rank rejected the call");
  }
  for (std::int64_t c = 0; c < channels; ++c) sums[c] = tiles::GradientSums{message[1 + c], message[1 + channels + c]};
  return message[0];
}

}  // namespace bnh::sync
