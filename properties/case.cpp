#include "properties/case.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>

namespace bnh {

DTypeChoice::DTypeChoice(DType data, std::optional<DType> stats)
    : data(data), stats(stats == default_stats_dtype(data) ? std::nullopt : stats) {}

DTypeChoice DTypeChoice::parse(const std::string& text) {
  const auto [data, stats] = parse_dtypes(text);
  const DTypeChoice choice(data, stats);
  TensorDesc desc;
  choice.apply(desc);
  validate_dtypes(desc);
  return choice;
}

std::string DTypeChoice::label() const {
  TensorDesc desc;
  apply(desc);
  return dtypes_label(desc);
}

std::string Case::summary() const {
  std::ostringstream out;
  out << desc.to_string() << " eps=" << params.eps << " momentum=" << params.momentum
      << " rmax=" << params.rmax << " dmax=" << params.dmax;
  return out.str();
}

Case random_case(const TensorDesc& desc, std::uint64_t seed, const Params& params) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  auto representable = [&desc](double value) { return round_to_dtype(value, desc.dtype); };
  auto per_channel = [&desc](double value) { return round_to_dtype(value, desc.stats_dtype()); };

  Case result;
  result.desc = desc;
  result.params = params;
  const auto elements = static_cast<std::size_t>(desc.elements());
  const auto channels = static_cast<std::size_t>(desc.c);
  result.x.resize(elements);
  result.dy.resize(elements);
  for (auto& value : result.x) value = representable(normal(engine));
  for (auto& value : result.dy) value = representable(normal(engine));
  result.gamma.resize(channels);
  result.beta.resize(channels);
  result.running_mean.resize(channels);
  result.running_var.resize(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    result.gamma[c] = per_channel(1.0 + 0.75 * uniform(engine) * 2);  // in (-0.5, 2.5)
    result.beta[c] = per_channel(uniform(engine));
    result.running_mean[c] = per_channel(0.5 * uniform(engine));
    result.running_var[c] = per_channel(1.0 + 0.9 * uniform(engine));  // in (0.1, 1.9)
  }
  return result;
}

const char* to_string(Regime regime) {
  switch (regime) {
    case Regime::exact_statistics: return "exact";
    case Regime::standard_normal: return "normal";
    case Regime::large_mean: return "large-mean";
    case Regime::near_constant: return "near-constant";
    case Regime::constant_channels: return "constant";
    case Regime::mixed_magnitudes: return "mixed";
    case Regime::heavy_tails: return "heavy-tails";
    case Regime::huge: return "huge";
    case Regime::tiny: return "tiny";
  }
  return "unknown";
}

Regime parse_regime(const std::string& text) {
  for (Regime regime : all_regimes) {
    if (text == to_string(regime)) return regime;
  }
  throw Error("unknown data regime '" + text + "'");
}

namespace {

// The shortest decimal that reads back as the same double: eps=1e-05, not 1.0000000000000001e-05.
std::string shortest(double value) {
  std::ostringstream out;
  for (int digits = 6; digits <= 17; ++digits) {
    out.str("");
    out.precision(digits);
    out << value;
    if (!std::isfinite(value) || std::strtod(out.str().c_str(), nullptr) == value) break;
  }
  return out.str();
}

// A kind by its name, or by its number (0, 1), as specs printed before kinds had names.
template <typename Kind>
Kind parse_kind(const std::string& key, const std::string& text) {
  for (Kind kind : {Kind{0}, Kind{1}}) {
    if (text == to_string(kind) || text == std::to_string(static_cast<int>(kind))) return kind;
  }
  throw Error("case spec: " + key + " is " + to_string(Kind{0}) + " or " + to_string(Kind{1}) +
              ", not '" + text + "'");
}

}  // namespace

const char* to_string(GammaKind kind) { return kind == GammaKind::unit ? "unit" : "random"; }
const char* to_string(RunningKind kind) { return kind == RunningKind::near ? "near" : "far"; }

std::string CaseSpec::to_string() const {
  std::ostringstream out;
  out << desc.to_string() << " regime=" << bnh::to_string(regime)
      << " seed=" << data_seed << " gamma=" << bnh::to_string(gamma)
      << " running=" << bnh::to_string(running) << " eps=" << shortest(eps)
      << " momentum=" << shortest(momentum) << " rmax=" << shortest(rmax) << " dmax=" << shortest(dmax);
  if (!shards.empty()) out << " shards=" << shards_to_string(shards);
  return out.str();
}

std::vector<std::int64_t> parse_shards(const std::string& text) {
  std::vector<std::int64_t> shards;
  std::size_t start = 0;
  while (true) {
    const auto comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    std::size_t used = 0;
    long long size = -1;
    try {
      size = std::stoll(item, &used);
    } catch (const std::logic_error&) {
    }
    if (item.empty() || used != item.size() || size < 0 || size > (std::int64_t{1} << 40)) {
      throw Error("bad shard size '" + item + "' in '" + text + "' (expected sizes >= 0, e.g. 0,3,1)");
    }
    shards.push_back(size);
    if (comma == text.size()) break;
    start = comma + 1;
  }
  if (shards.size() > 64) throw Error("more than 64 shards in '" + text + "'");
  return shards;
}

std::string shards_to_string(const std::vector<std::int64_t>& shards) {
  std::string text;
  for (std::int64_t size : shards) text += (text.empty() ? "" : ",") + std::to_string(size);
  return text;
}

CaseSpec CaseSpec::parse(const std::string& text) {
  std::istringstream in(text);
  std::string dtype, layout, shape;
  CaseSpec spec;
  if (!(in >> dtype >> layout >> shape)) {
    throw Error("case spec '" + text + "': expected 'DTYPE LAYOUT NxCxHxW key=value...'");
  }
  DTypeChoice::parse(dtype).apply(spec.desc);
  spec.desc.layout = parse_layout(layout);
  char x1 = 0, x2 = 0, x3 = 0;
  std::istringstream dims(shape);
  if (!(dims >> spec.desc.n >> x1 >> spec.desc.c >> x2 >> spec.desc.h >> x3 >> spec.desc.w) ||
      x1 != 'x' || x2 != 'x' || x3 != 'x') {
    throw Error("case spec: bad shape '" + shape + "' (expected NxCxHxW)");
  }
  std::string item;
  while (in >> item) {
    const auto equals = item.find('=');
    if (equals == std::string::npos) throw Error("case spec: expected key=value, got '" + item + "'");
    const std::string key = item.substr(0, equals), value = item.substr(equals + 1);
    try {
      if (key == "regime") spec.regime = parse_regime(value);
      else if (key == "seed") spec.data_seed = std::stoull(value);
      else if (key == "gamma") spec.gamma = parse_kind<GammaKind>(key, value);
      else if (key == "running") spec.running = parse_kind<RunningKind>(key, value);
      else if (key == "eps") spec.eps = std::stod(value);
      else if (key == "momentum") spec.momentum = std::stod(value);
      else if (key == "rmax") spec.rmax = std::stod(value);
      else if (key == "dmax") spec.dmax = std::stod(value);
      else if (key == "shards") spec.shards = parse_shards(value);  // its own message
      else throw Error("case spec: unknown key '" + key + "'");
    } catch (const std::logic_error&) {
      throw Error("case spec: bad value in '" + item + "'");
    } catch (const Error& error) {
      if (key != "shards") throw;
      throw Error(std::string("case spec: ") + error.what());
    }
  }
  if (!spec.shards.empty()) {
    std::int64_t total = 0;
    for (std::int64_t size : spec.shards) total += size;
    if (total != spec.desc.n) {
      throw Error("case spec: shards=" + shards_to_string(spec.shards) + " add up to " + std::to_string(total) +
                  ", not N = " + std::to_string(spec.desc.n));
    }
  }
  return spec;
}

}  // namespace bnh
