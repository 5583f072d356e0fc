// Reports: the Mann-Whitney test, the comparison of two reports (in code and on the fixtures of
// tests/fixtures, whose times have known distributions), and reading and writing report files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "reports/compare.hpp"
#include "reports/render_html.hpp"
#include "reports/render_markdown.hpp"
#include "reports/schema.hpp"

namespace {

using namespace bnh::reports;
namespace fs = std::filesystem;

// ---- Mann-Whitney ----------------------------------------------------------------------------

// Conover, Practical Nonparametric Statistics (3rd ed.), the example SciPy's documentation of
// mannwhitneyu also uses: U = 17, exact two-sided p = 14/126, with the normal approximation
// and continuity correction p = 0.111347.
const std::vector<double> conover_x{19, 22, 16, 29, 24}, conover_y{20, 11, 17, 12};

TEST(MannWhitney, ExactPValueOfATextbookExample) {
  const auto test = mann_whitney(conover_x, conover_y);
  EXPECT_EQ(test.u, 17);
  EXPECT_TRUE(test.exact);
  EXPECT_NEAR(test.p_value, 14.0 / 126.0, 1e-12);
}

TEST(MannWhitney, NormalApproximationOfTheSameExample) {
  const auto test = mann_whitney(conover_x, conover_y, true);
  EXPECT_FALSE(test.exact);
  EXPECT_NEAR(test.p_value, 0.11134688653314, 1e-9);
}

TEST(MannWhitney, SymmetricInItsSamples) {
  const auto forward = mann_whitney(conover_x, conover_y), backward = mann_whitney(conover_y, conover_x);
  EXPECT_EQ(forward.u + backward.u, 20);
  EXPECT_NEAR(forward.p_value, backward.p_value, 1e-12);
}

TEST(MannWhitney, CompletelySeparatedSamplesGiveTheSmallestExactP) {
  const auto test = mann_whitney({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5});
  EXPECT_EQ(test.u, 25);
  EXPECT_NEAR(test.p_value, 2.0 / 252.0, 1e-12);
  EXPECT_NEAR(smallest_exact_p(5, 5), 2.0 / 252.0, 1e-12);
  EXPECT_NEAR(smallest_exact_p(3, 3), 0.1, 1e-12);  // why 3 against 3 can never be significant
}

TEST(MannWhitney, TiesUseMidranksAndTheTieCorrection) {
  // Ranks 1, 3, 3 | 3, 5, 6: U = 1; var U = 9/12 (7 - 24/30) = 4.65; z = (3.5 - 0.5)/sqrt(4.65).
  const auto test = mann_whitney({1, 2, 2}, {2, 3, 4});
  EXPECT_EQ(test.u, 1);
  EXPECT_FALSE(test.exact);
  EXPECT_NEAR(test.p_value, std::erfc(3 / std::sqrt(4.65) / std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(test.p_value, 0.164159728, 1e-8);
}

TEST(MannWhitney, IdenticalSamplesShowNoDifference) {
  EXPECT_EQ(mann_whitney({1, 1, 1}, {1, 1, 1}).p_value, 1);
  EXPECT_EQ(mann_whitney({1, 2, 3}, {1, 2, 3}).p_value, 1);
  EXPECT_THROW(mann_whitney({}, {1}), bnh::Error);
}

// ---- comparison ------------------------------------------------------------------------------

Report report_with(const std::vector<std::pair<std::string, std::vector<double>>>& benchmarks) {
  Report report;
  for (const auto& [id, times] : benchmarks) {
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    Benchmark benchmark;
    benchmark.id = id;
    benchmark.implementation = "blocked";
    benchmark.operation = "bn_backward";
    benchmark.dtype = "f32";
    benchmark.layout = "nchw";
    benchmark.shape = {2, 3};
    benchmark.timing.repetitions = times;
    benchmark.timing.median_s = sorted[sorted.size() / 2];
    report.benchmarks.push_back(benchmark);
  }
  return report;
}

std::vector<double> scaled(std::vector<double> times, double factor) {
  for (double& time : times) time *= factor;
  return times;
}

const std::vector<double> times{1.00, 1.01, 0.99, 1.02, 0.98};

TEST(Compare, ASignificantSlowdownBeyondTheThresholdIsARegression) {
  const auto result = compare_reports(report_with({{"a", times}}), report_with({{"a", scaled(times, 1.5)}}));
  ASSERT_EQ(result.benchmarks.size(), 1u);
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::slower);
  EXPECT_NEAR(result.benchmarks[0].ratio, 1.5, 1e-12);
  EXPECT_NEAR(*result.benchmarks[0].p_value, 2.0 / 252.0, 1e-12);
  EXPECT_TRUE(result.regression());
  EXPECT_NEAR(*result.geometric_mean, 1.5, 1e-12);
}

TEST(Compare, ASignificantSlowdownWithinTheThresholdIsNoRegression) {
  const auto result = compare_reports(report_with({{"a", times}}), report_with({{"a", scaled(times, 1.1)}}),
                                      {0.2, 0.05});
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::same);
  EXPECT_EQ(result.benchmarks[0].note, "within threshold");
  EXPECT_FALSE(result.regression());
}

TEST(Compare, FewRepetitionsAreWarnedAbout) {
  const auto result = compare_reports(report_with({{"a", {1, 2, 3}}}), report_with({{"a", {4, 5, 6}}}));
  EXPECT_FALSE(result.regression());  // 3 against 3: p >= 0.1
  ASSERT_FALSE(result.warnings.empty());
  EXPECT_NE(result.warnings.back().find("fewer than 9 repetitions"), std::string::npos);
}

// A zero, negative or non-finite time is no measurement: compared, it would read as faster.
TEST(Compare, RefusesTimesThatAreNotPositiveAndFinite) {
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    std::vector<double> broken = times;
    broken[1] = bad;
    for (const auto& [base, newer] : {std::pair{broken, times}, std::pair{times, broken}}) {
      try {
        compare_reports(report_with({{"a", base}}), report_with({{"a", newer}}));
        ADD_FAILURE() << "a time of " << bad << " was compared";
      } catch (const bnh::Error& error) {
        EXPECT_NE(std::string(error.what()).find("times must be positive and finite"), std::string::npos)
            << error.what();
      }
    }
  }
  Report zero_median = report_with({{"a", times}});
  zero_median.benchmarks[0].timing.median_s = 0.0;
  EXPECT_THROW(check_times(zero_median, "r.json"), bnh::Error);
  EXPECT_NO_THROW(check_times(report_with({{"a", times}}), "r.json"));
}

TEST(Compare, UnmatchedBenchmarksAreListedAndTheGeometricMeanIsOverMatches) {
  const auto result = compare_reports(report_with({{"a", times}, {"b", times}}),
                                      report_with({{"a", scaled(times, 2)}, {"c", times}}));
  ASSERT_EQ(result.benchmarks.size(), 1u);
  EXPECT_EQ(result.only_in_base, std::vector<std::string>{"b"});
  EXPECT_EQ(result.only_in_new, std::vector<std::string>{"c"});
  EXPECT_NEAR(*result.geometric_mean, 2, 1e-12);
}

// ---- comparison of the fixtures --------------------------------------------------------------
// base.json: openmp about 1 ms and naive about 4 ms, 9 repetitions each within 3%; every other
// fixture says in its "comment" how it differs. The verdicts depend on no clock.

Comparison against_base(const std::string& fixture) {
  const std::string dir = BNH_FIXTURES_DIR;
  return compare_reports(read_report(dir + "/base.json"), read_report(dir + "/" + fixture + ".json"));
}

const std::string openmp = "bn_forward_train/nchw/f32/2x256x14x14/t1/openmp";
const std::string naive = "bn_forward_train/nchw/f32/2x256x14x14/t1/naive";

const BenchmarkComparison& row(const Comparison& comparison, const std::string& id) {
  const auto found = std::find_if(comparison.benchmarks.begin(), comparison.benchmarks.end(),
                                  [&](const auto& row) { return row.id == id; });
  if (found == comparison.benchmarks.end()) throw std::runtime_error("no row " + id);
  return *found;
}

TEST(CompareFixtures, OtherDrawsOfTheSameDistributionsAreTheSame) {
  const Comparison result = against_base("same");
  EXPECT_FALSE(result.regression());
  ASSERT_EQ(result.benchmarks.size(), 2u);
  for (const auto& row : result.benchmarks) {
    EXPECT_EQ(row.verdict, BenchmarkComparison::Verdict::same) << row.id;
    EXPECT_EQ(row.note, "not significant") << row.id;
    EXPECT_GT(*row.p_value, 0.5) << row.id;
  }
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_NEAR(*result.geometric_mean, 1, 0.02);
}

TEST(CompareFixtures, OneAndAHalfTimesSlowerIsARegressionOfThatBenchmarkOnly) {
  const Comparison result = against_base("slower");
  EXPECT_EQ(result.regressions, 1);
  EXPECT_EQ(row(result, openmp).verdict, BenchmarkComparison::Verdict::slower);
  EXPECT_NEAR(row(result, openmp).ratio, 1.5, 1e-9);
  EXPECT_LT(*row(result, openmp).p_value, 1e-3);
  EXPECT_EQ(row(result, naive).verdict, BenchmarkComparison::Verdict::same);
  const std::string text = format_comparison(result, {});
  EXPECT_NE(text.find("1 significant regression(s)"), std::string::npos) << text;
}

TEST(CompareFixtures, FasterIsReportedAndNotARegression) {
  const Comparison result = against_base("faster");
  EXPECT_FALSE(result.regression());
  EXPECT_EQ(row(result, openmp).verdict, BenchmarkComparison::Verdict::faster);
  EXPECT_NEAR(row(result, openmp).ratio, 0.6, 1e-9);
}

TEST(CompareFixtures, ASlowerMedianWithinTheNoiseIsNotSignificant) {
  const Comparison result = against_base("noisy");
  EXPECT_FALSE(result.regression());
  const auto& noisy = row(result, openmp);
  EXPECT_GT(noisy.ratio, 1.2);  // beyond the threshold, but the samples overlap
  EXPECT_EQ(noisy.verdict, BenchmarkComparison::Verdict::same);
  EXPECT_EQ(noisy.note, "not significant");
  EXPECT_GT(*noisy.p_value, 0.05);
}

TEST(CompareFixtures, TooFewRepetitionsAreReportedNotGated) {
  const Comparison result = against_base("few");
  EXPECT_FALSE(result.regression());  // openmp is 3 times slower, on one repetition
  EXPECT_EQ(row(result, openmp).verdict, BenchmarkComparison::Verdict::not_enough_repetitions);
  EXPECT_FALSE(row(result, openmp).p_value.has_value());
  EXPECT_NEAR(row(result, openmp).ratio, 3, 1e-9);
  EXPECT_EQ(row(result, naive).verdict, BenchmarkComparison::Verdict::same);
  ASSERT_EQ(result.warnings.size(), 2u);
  EXPECT_NE(result.warnings[0].find("1 benchmark(s) have fewer than 2 repetitions"), std::string::npos);
  EXPECT_NE(result.warnings[1].find("fewer than 9 repetitions on a side (3)"), std::string::npos);
  const std::string text = format_comparison(result, {});
  EXPECT_NE(text.find("not enough repetitions (9 and 1)"), std::string::npos) << text;
}

TEST(CompareFixtures, AReportAgainstItselfIsTheSame) {
  const Comparison result = against_base("base");
  EXPECT_FALSE(result.regression());
  EXPECT_EQ(*result.geometric_mean, 1);
  for (const auto& row : result.benchmarks) EXPECT_EQ(*row.p_value, 1) << row.id;
}

// ---- files -----------------------------------------------------------------------------------

class ReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "bnharness-report-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // The message of the bnh::Error read_report throws: one line, naming the file.
  std::string refusal(const std::string& path) {
    try {
      read_report(path);
    } catch (const bnh::Error& error) {
      const std::string message = error.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      EXPECT_EQ(message.rfind(path, 0), 0u) << message;
      return message;
    }
    ADD_FAILURE() << path << " was read";
    return "";
  }
  std::string dir_;
};

TEST_F(ReportFiles, RoundTripKeepsEveryFieldAndLeavesNoTemporaryFile) {
  Report report = report_with({{"bn_backward/nchw/f32/2x3/t1/blocked", times}});
  report.machine.bandwidth = {{1, 20.5, 18.25, 1 << 26}};
  report.build.libraries = {{"eigen", "3.4.0"}};
  report.suite.name = "quick";
  report.suite.repetitions = 5;
  report.focus = "blocked";
  report.benchmarks[0].bound_fraction = 0.75;
  bnh::AccuracyPoint point;
  point.implementation = "blocked";
  point.kappa = 0.5;
  report.accuracy = {point};
  const std::string path = dir_ + "/sub/report.json";
  write_report(path, report);
  const Report read = read_report(path);
  EXPECT_EQ(nlohmann::json(read), nlohmann::json(report));
  EXPECT_EQ(read.benchmarks[0].bound_fraction, 0.75);
  EXPECT_EQ(read.focus, "blocked");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ + "/sub")) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "report.json");
  }
  EXPECT_EQ(files, 1);
}

TEST_F(ReportFiles, AWriteReplacesAnExistingFile) {
  const std::string path = file("r.json", "old");
  write_report(path, report_with({}));
  EXPECT_TRUE(read_report(path).benchmarks.empty());
}

TEST_F(ReportFiles, RefusesNotJson) {
  EXPECT_NE(refusal(file("a.json", "hello, world\n")).find(": not JSON (syntax error at byte"), std::string::npos);
}

TEST_F(ReportFiles, RefusesATruncatedReport) {
  const std::string text = report_text(report_with({{"a", times}}));
  const std::string message = refusal(file("t.json", text.substr(0, text.size() / 2)));
  EXPECT_NE(message.find(": truncated JSON (the text ends at byte"), std::string::npos) << message;
}

TEST_F(ReportFiles, RefusesAReportCutInsideAString) {
  const std::string message = refusal(file("s.json", R"({"schema": "bnharness-rep)"));
  EXPECT_NE(message.find(": truncated JSON"), std::string::npos) << message;
  EXPECT_NE(refusal(file("b.json", "{]")).find(": not JSON"), std::string::npos);
}

TEST_F(ReportFiles, RefusesAForeignJsonFile) {
  EXPECT_NE(refusal(file("f.json", R"({"schema": "other-tool", "version": 1})"))
                .find(": not a bnharness report (\"schema\" is \"other-tool\", expected \"bnharness-report\")"),
            std::string::npos);
  EXPECT_NE(refusal(file("g.json", R"({"name": "x"})")).find(": not a bnharness report (no \"schema\" key)"),
            std::string::npos);
  EXPECT_NE(refusal(file("h.json", "[1, 2]")).find(": not a bnharness report"), std::string::npos);
}

TEST_F(ReportFiles, RefusesAFutureVersion) {
  nlohmann::json report = report_with({});
  report["version"] = 2;
  EXPECT_NE(refusal(file("v.json", report.dump())).find(": report version 2 is newer than this bnh reads (version 1)"),
            std::string::npos);
}

TEST_F(ReportFiles, RefusesEmptyMissingAndMalformedFiles) {
  EXPECT_NE(refusal(file("e.json", "")).find(": empty file"), std::string::npos);
  EXPECT_NE(refusal(dir_ + "/missing.json").find(": cannot read (No such file or directory)"), std::string::npos);
  nlohmann::json report = report_with({{"a", times}});
  report["benchmarks"][0].erase("median_s");
  EXPECT_NE(refusal(file("m.json", report.dump())).find(": malformed report: benchmarks[0] has no numeric \"median_s\""),
            std::string::npos);
}

TEST_F(ReportFiles, RefusesANumberBeyondADouble) {
  nlohmann::json report = report_with({{"a", times}});
  report["benchmarks"][0]["median_s"] = 1.0;
  std::string text = report.dump();
  const std::string median = "\"median_s\":1.0";
  ASSERT_NE(text.find(median), std::string::npos) << text;
  text.replace(text.find(median), median.size(), "\"median_s\":1e400");
  const std::string message = refusal(file("o.json", text));
  EXPECT_NE(message.find(": not a usable report: number overflow parsing '1e400'"), std::string::npos) << message;
}

// Plugin strings may be any bytes: written as valid UTF-8 (U+FFFD for bad bytes), never an
// abort of the dump (nlohmann's type_error.316).
TEST_F(ReportFiles, WritesStringsThatAreNotUtf8) {
  Report report = report_with({{"a", times}});
  report.benchmarks[0].implementation = "bad\xff\xfe name";
  std::string text;
  ASSERT_NO_THROW(text = report_text(report));
  EXPECT_NE(text.find("bad\xEF\xBF\xBD\xEF\xBF\xBD name"), std::string::npos);
  const std::string path = dir_ + "/utf8.json";
  ASSERT_NO_THROW(write_report(path, report));
  EXPECT_EQ(read_report(path).benchmarks[0].implementation, "bad\xEF\xBF\xBD\xEF\xBF\xBD name");
  EXPECT_NO_THROW(render_markdown(report));
  EXPECT_NO_THROW(render_html(report));
}


// A version-1 report written before roles and bounds (tests/fixtures/before_roles.json) reads
// as docs/report-schema.md promises: roles from "peer" and the name naive, the copies as copy
// bounds, the L3 as the last level, and the figures derived again.
TEST(OlderReports, AReportWrittenBeforeRolesIsReadWithTheirMeaning) {
  Report report = read_report(std::string(BNH_FIXTURES_DIR) + "/before_roles.json");
  EXPECT_EQ(report.machine.caches.last_level, std::int64_t{32} << 20);
  ASSERT_EQ(report.benchmarks.size(), 3u);
  std::map<std::string, const Benchmark*> by_name;
  for (const auto& benchmark : report.benchmarks) by_name[benchmark.implementation] = &benchmark;
  EXPECT_EQ(by_name.at("naive")->role, bnh::Role::baseline);
  EXPECT_EQ(by_name.at("openmp")->role, bnh::Role::built_in);
  EXPECT_EQ(by_name.at("onednn")->role, bnh::Role::peer);
  ASSERT_EQ(report.bounds.size(), 1u);
  EXPECT_EQ(report.bounds[0].kind, "copy");
  EXPECT_EQ(report.bounds[0].id, "copy/f32/2x256x14x14/t1");

  derive(report);
  EXPECT_EQ(report.focus, "openmp");
  const Benchmark& openmp = *by_name.at("openmp");
  ASSERT_TRUE(openmp.speedup_vs_naive && openmp.speedup_vs_best_peer && openmp.copy_fraction);
  EXPECT_NEAR(*openmp.speedup_vs_naive, 8, 1e-9);
  EXPECT_NEAR(*openmp.speedup_vs_best_peer, 2, 1e-9);
  EXPECT_EQ(openmp.best_peer, std::optional<std::string>("onednn"));
  EXPECT_NEAR(*openmp.copy_fraction, 0.4, 1e-9);
}

}  // namespace
