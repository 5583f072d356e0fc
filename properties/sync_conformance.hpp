// The conformance runner for synchronized batch norm (docs/sync.md): the whole property
// catalogue on a synchronized implementation run on ranks, seen as one implementation of the
// whole batch (properties/sharded_implementation.hpp), with the shard split part of every case,
// plus the synchronized properties (partition invariance).
//
// Every output is compared with the reference on the concatenated batch, so dx and the reduced
// dgamma and dbeta are held to the single-process values; the per-channel outputs must be
// bitwise identical on every rank (checked on every call).
//
// Under MPI every process runs this with the same options and makes the same calls in the same
// order: the seed is rank 0's (agreed through the communicator), and nothing depends on timing.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "bnh/communicator.hpp"
#include "bnh/sync_implementation.hpp"
#include "properties/conformance.hpp"

namespace bnh {

// forced_shards empty: a split drawn per case from its seed (uneven, empty and one-sample
// shards among them); otherwise every case has N = their sum and exactly that split, one
// entry per rank (forced_shards.size() == ranks.size(), sum >= 1).
ConformanceResult run_sync_conformance(
    SyncImplementation& implementation, Ranks& ranks, const ConformanceOptions& options,
    const std::vector<std::int64_t>& forced_shards = {},
    const std::function<void(const PropertyResult&)>& on_property = {});

// The synchronized properties, run after the catalogue by run_sync_conformance.
const std::vector<Property>& sync_property_catalogue();
// The catalogue and the synchronized properties, in the order run_sync_conformance runs them.
std::vector<Property> sync_conformance_properties();

// One property on one given case, with the case's split (the replay of a counterexample).
CaseVerdict check_sync_case(SyncImplementation& implementation, Ranks& ranks, const Property& property,
                            const Case& test_case, const ConformanceOptions& options);

// The seed every rank uses: rank 0's `seed` (0: drawn there), through ranks' communicator.
std::uint64_t agreed_seed(Ranks& ranks, std::uint64_t seed);

}  // namespace bnh
