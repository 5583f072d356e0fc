// Only the first 64 channels are synchronized: channels from 64 on keep this rank's own
// statistics, as a channels-last kernel once did (pytorch/pytorch PR 57077).
#include "tests/mutants/mutant.hpp"
#include "tests/mutants/sync_textbook.hpp"

namespace bnh::mutants {
namespace {

struct First64Channels : SyncTextbook {
  using SyncTextbook::SyncTextbook;
  static constexpr std::int64_t synchronized_channels = 64;

  Moments merge(const Gathered& gathered, std::int64_t c) const override {
    if (c >= synchronized_channels) return gathered.of(gathered.own_rank, c);  // the bug
    return SyncTextbook::merge(gathered, c);
  }
};

}  // namespace

BNH_SYNC_MUTANT(First64Channels, "sync_first_64_channels",
                "only the first 64 channels synchronized, the others local (pytorch PR 57077)");

}  // namespace bnh::mutants
