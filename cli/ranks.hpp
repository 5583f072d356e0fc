// The ranks a synchronized implementation runs on, as `bnh check` and `bnh gradcheck` take
// them (docs/sync.md): --ranks K simulated ranks, --shards a,b,c a forced split, --mpi the
// ranks of the MPI job this process belongs to.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bnh/communicator.hpp"
#include "cli/arguments.hpp"
#include "properties/case.hpp"

namespace bnh::cli {

inline constexpr int default_ranks = 3;

struct RanksChoice {
  int count = default_ranks;         // simulated ranks; under MPI, the job's (known once joined)
  std::vector<std::int64_t> shards;  // forced split, one size per rank; empty: drawn per case
  bool mpi = false;
  double timeout_seconds = 60;       // a collective that waits longer fails (>= --timeout)

  // "3 simulated ranks", "3 MPI ranks"
  std::string describe(int size) const;
  // The flags that replay a run on simulated ranks: " --ranks 3 --shards 0,3,1". A failure under
  // MPI replays there too: the split is in the case, the results do not depend on the back end.
  std::string replay_flags(int size) const;
};

// Whether any of --ranks, --shards, --mpi was given.
bool asks_for_ranks(const Arguments& arguments);

// --ranks (1 to 64), --shards and --mpi, checked against each other: UsageError on one line.
RanksChoice ranks_choice(const std::string& command, const Arguments& arguments);

// The ranks themselves; under MPI, a forced split must have one size per rank of the job.
std::unique_ptr<Ranks> make_ranks(const std::string& command, const RanksChoice& choice);

// A replayed case (--case) and the ranks flags made to agree: the case's shards= sets the
// number of simulated ranks when no flag does; --shards gives a case without a split its split.
// UsageError when they disagree (or --shards does not add up to the case's N).
CaseSpec fit_case_to_ranks(const std::string& command, CaseSpec spec, RanksChoice& choice, const Arguments& arguments);

// {"back_end": "simulated" or "mpi", "count": K, "shards": [forced split] or null}
nlohmann::json ranks_json(const RanksChoice& choice, int size);

// The usage lines of the flags, for a subcommand's --help.
inline constexpr const char* ranks_usage =
    "  --ranks K          run a synchronized implementation on K simulated ranks, threads of\n"
    "                     this process (1 to 64; default 3)\n"
    "  --shards A,B,...   force the split of the batch: one size per rank (0 for an empty\n"
    "                     shard), N their sum; its length is the number of ranks\n"
    "  --mpi              the ranks are those of the MPI job (mpirun -np K bnh ... --mpi);\n"
    "                     rank 0 prints, the others are silent\n";

}  // namespace bnh::cli
