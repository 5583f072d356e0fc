#include "bench/sync_scaling.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "bench/runner.hpp"
#include "bench/workspace.hpp"
#include "bnh/operations.hpp"

namespace bnh::bench {

namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

constexpr std::int64_t max_iterations = 1000000;

// Every rank returns from it only once every rank has entered it: an all-gather of one value,
// on the communicator underneath (not counted as communication of the operation).
void barrier(Communicator& world) {
  double mine = 0;
  std::vector<double> all(static_cast<std::size_t>(world.size()));
  world.all_gather(&mine, 1, all.data());
}

// Calls per repetition: enough for `min_time` at the slowest rank's warm-up time, the same on
// every rank (each rank makes the same number of collective calls).
std::int64_t agreed_iterations(Communicator& world, double warm_up_seconds, double min_time) {
  std::vector<double> all(static_cast<std::size_t>(world.size()));
  world.all_gather(&warm_up_seconds, 1, all.data());
  const double slowest = std::max(*std::max_element(all.begin(), all.end()), 1e-9);
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(min_time / slowest)), 1, max_iterations);
}

// The median time per call and the communication share, from the repetitions.
void summarize(SyncMeasurement& measurement) {
  measurement.median_s = statistics_of(measurement.seconds).median;
  const double communication = statistics_of(measurement.communication_seconds).median;
  measurement.communication_share = measurement.median_s > 0 ? communication / measurement.median_s : 0;
}

std::vector<Scaling> scalings_for(int ranks) {
  if (ranks == 1) return {Scaling::single};
  return {Scaling::weak, Scaling::strong};
}

// One rank's part of one measurement: the same calls on every rank, timings kept by rank 0.
SyncMeasurement measure_one(SyncImplementation& implementation, Communicator& world, TimedCommunicator& timed,
                            Workspace& workspace, const SyncScalingConfig& config, Operation operation,
                            const TensorDesc& shard) {
  Params params;
  params.threads = config.threads;
  workspace.prepare(shard);
  workspace.reset_running_statistics();
  if (is_backward(operation)) {
    const Operation forward = forward_of(operation);
    implementation.run(timed, forward, shard, params, workspace.buffers(forward));
    workspace.reset_running_statistics();
  }
  const OperationBuffers buffers = workspace.buffers(operation);

  barrier(world);
  const auto warm_up = SteadyClock::now();
  implementation.run(timed, operation, shard, params, buffers);
  SyncMeasurement measurement;
  measurement.iterations = agreed_iterations(world, seconds_since(warm_up), config.min_time);
  for (int repetition = 0; repetition < config.repetitions; ++repetition) {
    barrier(world);  // the ranks start together
    timed.reset();
    const auto start = SteadyClock::now();
    for (std::int64_t i = 0; i < measurement.iterations; ++i) {
      implementation.run(timed, operation, shard, params, buffers);
    }
    const double calls = static_cast<double>(measurement.iterations);
    measurement.seconds.push_back(seconds_since(start) / calls);
    measurement.communication_seconds.push_back(timed.seconds() / calls);
  }
  summarize(measurement);
  return measurement;
}

}  // namespace

void TimedCommunicator::all_gather(const double* values, std::int64_t count, double* gathered) {
  const auto start = SteadyClock::now();
  inner_.all_gather(values, count, gathered);
  seconds_ += seconds_since(start);
}

// In the order of the enumeration.
constexpr const char* scaling_names[] = {"single", "weak", "strong"};

const char* to_string(Scaling scaling) { return scaling_names[static_cast<int>(scaling)]; }

Scaling parse_scaling(const std::string& text) {
  for (Scaling scaling : {Scaling::single, Scaling::weak, Scaling::strong}) {
    if (text == to_string(scaling)) return scaling;
  }
  throw Error("unknown scaling '" + text + "' (single, weak, strong)");
}

std::int64_t shard_samples(Scaling scaling, std::int64_t n, int rank, int ranks) {
  if (scaling != Scaling::strong) return n;
  return n / ranks + (rank < n % ranks ? 1 : 0);
}

std::vector<SyncMeasurement> measure_sync_scaling(SyncImplementation& implementation, Ranks& ranks,
                                                  const SyncScalingConfig& config,
                                                  const std::function<void(const SyncMeasurement&)>& progress) {
  if (config.repetitions < 1 || config.repetitions % 2 == 0) {
    throw Error("the repetitions must be odd, got " + std::to_string(config.repetitions));
  }
  std::vector<Operation> operations = config.operations;
  if (operations.empty()) operations.assign(std::begin(all_operations), std::end(all_operations));
  std::vector<SyncMeasurement> measurements;
  std::mutex rank_zero;  // simulated ranks run on threads; only rank 0 writes, but say so
  ranks.run([&](Communicator& world) {
    omp_set_num_threads(config.threads);  // for kernels that take OpenMP's default team
    TimedCommunicator timed(world);
    Workspace workspace;
    for (const Shape& shape : config.shapes) {
      for (Scaling scaling : scalings_for(world.size())) {
        if (scaling == Scaling::strong && shape.n < world.size()) continue;  // no rank without samples
        TensorDesc shard{shape.n, shape.c, shape.h, shape.w, config.layout, config.dtype};
        shard.n = shard_samples(scaling, shape.n, world.rank(), world.size());
        if (!implementation.supports(shard)) continue;
        for (Operation operation : operations) {
          if (!implementation.supports(operation)) continue;
          SyncMeasurement measurement =
              measure_one(implementation, world, timed, workspace, config, operation, shard);
          if (world.rank() != 0) continue;
          measurement.operation = operation;
          measurement.shape = shape;
          measurement.ranks = world.size();
          measurement.scaling = scaling;
          measurement.shard_n = shard.n;
          std::lock_guard<std::mutex> lock(rank_zero);
          if (progress) progress(measurement);
          measurements.push_back(std::move(measurement));
        }
      }
    }
  });
  return measurements;
}

void pool_rounds(std::vector<SyncMeasurement>& pooled, std::vector<SyncMeasurement> round) {
  for (auto& m : round) {
    const auto same = std::find_if(pooled.begin(), pooled.end(), [&](const SyncMeasurement& p) {
      return p.operation == m.operation && p.shape.label() == m.shape.label() && p.ranks == m.ranks &&
             p.scaling == m.scaling;
    });
    if (same == pooled.end()) {
      pooled.push_back(std::move(m));
      continue;
    }
    same->seconds.insert(same->seconds.end(), m.seconds.begin(), m.seconds.end());
    same->communication_seconds.insert(same->communication_seconds.end(), m.communication_seconds.begin(),
                                       m.communication_seconds.end());
    summarize(*same);
  }
}

void derive_efficiencies(std::vector<SyncMeasurement>& measurements) {
  std::map<std::pair<Operation, std::string>, double> single;
  for (const auto& m : measurements) {
    if (m.scaling == Scaling::single) single[{m.operation, m.shape.label()}] = m.median_s;
  }
  for (auto& m : measurements) {
    if (m.scaling == Scaling::single) {
      m.efficiency = 1;
      continue;
    }
    const auto found = single.find({m.operation, m.shape.label()});
    if (found == single.end() || m.median_s <= 0) {
      m.efficiency = 0;
    } else if (m.scaling == Scaling::weak) {
      m.efficiency = found->second / m.median_s;
    } else {
      m.efficiency = found->second / (m.ranks * m.median_s);
    }
  }
}

nlohmann::json to_json(const SyncMeasurement& m) {
  return {{"operation", to_string(m.operation)},
          {"shape", m.shape.dims()},
          {"ranks", m.ranks},
          {"scaling", to_string(m.scaling)},
          {"shard_n", m.shard_n},
          {"iterations", m.iterations},
          {"seconds", m.seconds},
          {"communication_seconds", m.communication_seconds},
          {"median_s", m.median_s},
          {"communication_share", m.communication_share},
          {"efficiency", m.efficiency}};
}

SyncMeasurement sync_measurement_from_json(const nlohmann::json& json) {
  SyncMeasurement m;
  m.operation = parse_operation(json.at("operation").get<std::string>());
  const auto dims = json.at("shape").get<std::vector<std::int64_t>>();
  if (dims.size() == 2) {
    m.shape = {dims[0], dims[1], 1, 1, true};
  } else if (dims.size() == 4) {
    m.shape = {dims[0], dims[1], dims[2], dims[3], false};
  } else {
    throw Error("a shape has 2 or 4 dimensions");
  }
  m.ranks = json.at("ranks").get<int>();
  m.scaling = parse_scaling(json.at("scaling").get<std::string>());
  m.shard_n = json.at("shard_n").get<std::int64_t>();
  m.iterations = json.at("iterations").get<std::int64_t>();
  m.seconds = json.at("seconds").get<std::vector<double>>();
  m.communication_seconds = json.at("communication_seconds").get<std::vector<double>>();
  m.median_s = json.at("median_s").get<double>();
  m.communication_share = json.at("communication_share").get<double>();
  m.efficiency = json.at("efficiency").get<double>();
  return m;
}

namespace {

std::string milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds * 1e3);
  return text;
}

std::string percent(double share) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", share * 100);
  return text;
}

std::string ratio(double value) {
  if (value <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

}  // namespace

std::string format_sync_table(const std::vector<SyncMeasurement>& measurements) {
  std::set<int> rank_counts;
  std::vector<std::pair<Operation, std::string>> rows;  // in the order measured
  std::map<std::tuple<Operation, std::string, int, Scaling>, const SyncMeasurement*> cell;
  for (const auto& m : measurements) {
    if (m.ranks > 1) rank_counts.insert(m.ranks);
    const std::pair<Operation, std::string> row{m.operation, m.shape.label()};
    if (std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
    cell[{m.operation, m.shape.label(), m.ranks, m.scaling}] = &m;
  }
  std::ostringstream out;
  out << "| operation | shape | T(1) ms |";
  std::string rule = "|---|---|---:|";
  for (int k : rank_counts) {
    const std::string K = std::to_string(k);
    out << " weak T(" << K << ") ms | comm | E_weak | strong T(" << K << ") ms | comm | E_strong |";
    rule += "---:|---:|---:|---:|---:|---:|";
  }
  out << '\n' << rule << '\n';
  for (const auto& [operation, label] : rows) {
    const auto found = cell.find({operation, label, 1, Scaling::single});
    out << "| " << to_string(operation) << " | " << label << " | "
        << (found != cell.end() ? milliseconds(found->second->median_s) : "-") << " |";
    for (int k : rank_counts) {
      for (Scaling scaling : {Scaling::weak, Scaling::strong}) {
        const auto at = cell.find({operation, label, k, scaling});
        if (at == cell.end()) {
          out << " - | - | - |";
          continue;
        }
        const SyncMeasurement& m = *at->second;
        out << ' ' << milliseconds(m.median_s) << " | " << percent(m.communication_share) << " | "
            << ratio(m.efficiency) << " |";
      }
    }
    out << '\n';
  }
  return out.str();
}

}  // namespace bnh::bench
