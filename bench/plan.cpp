#include "bench/plan.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include "bench/traffic.hpp"

namespace bnh::bench {

Clock parse_clock(const std::string& text) {
  if (text == "auto") return Clock::automatic;
  if (text == "cpu") return Clock::cpu;
  if (text == "real") return Clock::real;
  throw Error("unknown clock '" + text + "' (auto, cpu, real)");
}

const char* to_string(Clock clock) {
  switch (clock) {
    case Clock::automatic: return "auto";
    case Clock::cpu: return "cpu";
    case Clock::real: return "real";
  }
  return "auto";
}

void validate(const RunConfig& config) {
  if (config.repetitions < 1 || config.repetitions % 2 == 0) {
    throw Error("repetitions must be odd (the median of an even count is not one of the "
                "measurements, and benchmark 1.7.1 computes it wrongly), got " +
                std::to_string(config.repetitions));
  }
  if (!(config.min_time > 0)) throw Error("the minimum time must be positive");
  for (int threads : config.threads) {
    if (threads < 1) throw Error("thread counts must be >= 1, got " + std::to_string(threads));
  }
}

std::string benchmark_id(Operation operation, const TensorDesc& desc, const Shape& shape, int threads,
                         const std::string& implementation) {
  return std::string(to_string(operation)) + "/" + to_string(desc.layout) + "/" + dtypes_label(desc) + "/" +
         shape.label() + "/t" + std::to_string(threads) + "/" + implementation;
}

std::string bound_id(BoundKind kind, const TensorDesc& desc, const Shape& shape, int threads) {
  return std::string(to_string(kind)) + "/" + dtypes_label(desc) + "/" + shape.label() + "/t" +
         std::to_string(threads);
}

std::vector<Planned> plan(const RunConfig& config, const std::vector<Contender>& contenders,
                          std::int64_t cache_bytes) {
  std::vector<Operation> operations = config.operations;
  if (operations.empty()) operations.assign(std::begin(all_operations), std::end(all_operations));
  auto uses_cpu_clock = [&](int threads) {
    return config.clock == Clock::cpu || (config.clock == Clock::automatic && threads == 1);
  };
  std::vector<Planned> plans;
  for (const DTypeChoice& dtypes : config.dtypes) {
    for (const Shape& shape : config.shapes) {
      // The copy always: copy_fraction sets every operation against it.
      std::set<std::pair<BoundKind, int>> bounds;
      for (int threads : config.threads) bounds.insert({BoundKind::copy, threads});
      for (Layout layout : config.layouts) {
        const TensorDesc desc{shape.n, shape.c, shape.h, shape.w, layout, dtypes.data, dtypes.stats};
        for (Operation operation : operations) {
          for (int threads : config.threads) {
            for (const Contender& contender : contenders) {
              Implementation& impl = *contender.implementation;
              if (!impl.supports(desc) || !impl.supports(operation)) continue;  // not offered
              Planned planned;
              planned.id = benchmark_id(operation, desc, shape, threads, impl.name());
              planned.contender = contender;
              planned.operation = operation;
              planned.bound = bound_kind(operation, desc, cache_bytes);
              planned.desc = desc;
              planned.shape = shape;
              planned.threads = threads;
              planned.cpu_clock = uses_cpu_clock(threads);
              planned.bytes = compulsory_bytes(operation, desc);
              plans.push_back(planned);
              bounds.insert({planned.bound, threads});
            }
          }
        }
      }
      // The bounds of this shape (the layout does not change what they move).
      for (const auto& [kind, threads] : bounds) {
        Planned planned;
        planned.bound = kind;
        planned.desc = TensorDesc{shape.n, shape.c, shape.h, shape.w, Layout::nchw, dtypes.data, dtypes.stats};
        planned.shape = shape;
        planned.threads = threads;
        planned.id = planned.bound_id();
        planned.cpu_clock = uses_cpu_clock(threads);
        planned.bytes = bound_bytes(kind, planned.desc);
        plans.push_back(planned);
      }
    }
  }
  return plans;
}

}  // namespace bnh::bench
