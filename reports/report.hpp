// A new report's facts: when it was made, the machine it ran on (core/machine.hpp and the
// bandwidth probe) and the build that ran (compiler, flags, revision, library versions).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/schema.hpp"

namespace bnh::reports {

// "2026-11-24T02:30:00Z"
std::string utc_timestamp();

// The revision of the source tree: `git rev-parse --short HEAD` now if git and the tree are
// there, else the one recorded when the build was configured, else "unknown".
std::string git_revision();

MachineFacts describe_machine(const std::vector<BandwidthProbe>& bandwidth);
BuildFacts describe_build();

// schema, version, created now, machine and build; the caller adds the rest.
Report new_report(MachineFacts machine, BuildFacts build);

// The same as JSON, for a command that still assembles its report as JSON.
nlohmann::json machine_info(const std::vector<BandwidthProbe>& bandwidth);
nlohmann::json build_info();
nlohmann::json new_report(nlohmann::json machine, nlohmann::json build);
std::string report_text(const nlohmann::json& report);

}  // namespace bnh::reports
