// Reports: the Mann-Whitney test, comparison, reading and writing, rendering, accuracy figures.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bench/runner.hpp"
#include "bnh/registry.hpp"
#include "reports/accuracy.hpp"
#include "reports/compare.hpp"
#include "reports/render_html.hpp"
#include "reports/render_markdown.hpp"
#include "reports/report.hpp"

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

nlohmann::json report_with(const std::vector<std::pair<std::string, std::vector<double>>>& benchmarks) {
  nlohmann::json report = new_report(nlohmann::json::object(), nlohmann::json::object());
  for (const auto& [id, times] : benchmarks) {
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    report["benchmarks"].push_back({{"id", id},
                                    {"implementation", "openmp"},
                                    {"operation", "bn_backward"},
                                    {"dtype", "f32"},
                                    {"layout", "nchw"},
                                    {"shape", {2, 3}},
                                    {"threads", 1},
                                    {"repetitions", times},
                                    {"median_s", sorted[sorted.size() / 2]}});
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

TEST(Compare, TheSameTimesAreNoRegression) {
  const auto result = compare_reports(report_with({{"a", times}}), report_with({{"a", times}}));
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::same);
  EXPECT_FALSE(result.regression());
}

TEST(Compare, ASignificantSlowdownWithinTheThresholdIsNoRegression) {
  const auto result = compare_reports(report_with({{"a", times}}), report_with({{"a", scaled(times, 1.1)}}),
                                      {0.2, 0.05});
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::same);
  EXPECT_EQ(result.benchmarks[0].note, "within threshold");
  EXPECT_FALSE(result.regression());
}

TEST(Compare, ASpeedUpIsReportedAsFaster) {
  const auto result = compare_reports(report_with({{"a", times}}), report_with({{"a", scaled(times, 0.5)}}));
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::faster);
  EXPECT_FALSE(result.regression());
}

TEST(Compare, OneRepetitionIsReportedButNotGated) {
  const auto result = compare_reports(report_with({{"a", {1.0}}}), report_with({{"a", {3.0}}}));
  EXPECT_EQ(result.benchmarks[0].verdict, BenchmarkComparison::Verdict::not_enough_repetitions);
  EXPECT_FALSE(result.benchmarks[0].p_value.has_value());
  EXPECT_FALSE(result.regression());
  EXPECT_NE(format_comparison(result, {}).find("not enough repetitions"), std::string::npos);
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
  nlohmann::json zero_median = report_with({{"a", times}});
  zero_median["benchmarks"][0]["median_s"] = 0.0;
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

TEST_F(ReportFiles, RoundTripKeepsEveryKeyAndLeavesNoTemporaryFile) {
  nlohmann::json report = report_with({{"bn_backward/nchw/f32/2x3/t1/openmp", times}});
  report["machine"] = machine_info({{1, 20.5, 18.25, 1 << 26}});
  report["build"] = build_info();
  report["suite"] = {{"name", "quick"}, {"repetitions", 5}};
  report["accuracy"] = nlohmann::json::array({{{"implementation", "openmp"}, {"operation", "bn_backward"},
                                               {"dtype", "f32"}, {"regime", "normal"}, {"kappa", 0.5}}});
  const std::string path = dir_ + "/sub/report.json";
  write_report(path, report);
  EXPECT_EQ(read_report(path), report);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ + "/sub")) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "report.json");
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(report["schema"], "bnharness-report");
  EXPECT_EQ(report["version"], 1);
  EXPECT_EQ(report["machine"]["bandwidth"][0]["copy_gbps"], 20.5);
  EXPECT_TRUE(report["build"]["libraries"].contains("eigen"));
  EXPECT_TRUE(report["build"]["libraries"].contains("benchmark"));
}

TEST_F(ReportFiles, AtomicWriteReplacesAnExistingFile) {
  const std::string path = file("r.json", "old");
  write_text_atomically(path, "new\n");
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "new");
}

TEST_F(ReportFiles, RefusesNotJson) {
  EXPECT_NE(refusal(file("a.json", "hello, world\n")).find(": not JSON (syntax error at byte"), std::string::npos);
}

TEST_F(ReportFiles, RefusesATruncatedReport) {
  const std::string text = report_with({{"a", times}}).dump(1);
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
  nlohmann::json report = report_with({{"a", times}});
  report["benchmarks"][0]["implementation"] = "bad\xff\xfe name";
  std::string text;
  ASSERT_NO_THROW(text = report_text(report));
  EXPECT_NE(text.find("bad\xEF\xBF\xBD\xEF\xBF\xBD name"), std::string::npos);
  const std::string path = dir_ + "/utf8.json";
  ASSERT_NO_THROW(write_report(path, report));
  EXPECT_EQ(read_report(path)["benchmarks"][0]["implementation"], "bad\xEF\xBF\xBD\xEF\xBF\xBD name");
  EXPECT_NO_THROW(render_markdown(report));
  EXPECT_NO_THROW(render_html(report));
}

// ---- rendering -------------------------------------------------------------------------------

nlohmann::json rendered_report() {
  nlohmann::json report = new_report(machine_info({{1, 20, 18, 1 << 26}, {2, 30, 27, 1 << 26}}), build_info());
  for (int threads : {1, 2}) {
    for (const char* impl : {"naive", "openmp", "onednn"}) {
      const std::string name = impl;
      const double median = (name == "naive" ? 4e-3 : name == "openmp" ? 1e-3 : 1.25e-3) / threads;
      report["benchmarks"].push_back(
          {{"id", std::string("bn_forward_train/nchw/f32/16x64x56x56/t") + std::to_string(threads) + "/" + impl},
           {"implementation", impl}, {"operation", "bn_forward_train"}, {"dtype", "f32"}, {"layout", "nchw"},
           {"shape", {16, 64, 56, 56}}, {"threads", threads}, {"repetitions", {median, median, median}},
           {"median_s", median}, {"min_s", median}, {"stddev_s", 0}, {"bytes", 25690112},
           {"gbps", 25690112 / median / 1e9}, {"roofline_fraction", 0.5}, {"elements_per_second", 1e9},
           {"peer", std::string(impl) == "onednn"}});
    }
  }
  bnh::bench::add_speedups(report["benchmarks"]);
  for (double kappa : {1.0, 1e4, 1e8}) {
    report["accuracy"].push_back({{"implementation", "openmp"}, {"operation", "bn_forward_train"}, {"dtype", "f32"},
                                  {"regime", "large-mean"}, {"kappa", kappa}, {"max_ulp_error", 3.0},
                                  {"max_scaled_error", kappa / 1e6}, {"bound", 20.0}, {"cases", 4},
                                  {"failed_cases", kappa > 1e7 ? 1 : 0}});
  }
  return report;
}

TEST(Render, HtmlIsSelfContainedWithEveryKindOfChart) {
  const std::string html = render_html(rendered_report());
  for (const char* id : {"id=\"bandwidth-bn-forward-train-nchw-f32-t1\"", "id=\"speedup-peer-bn-forward-train-nchw-f32-t2\"",
                         "id=\"speedup-naive-bn-forward-train-nchw-f32-t1\"", "id=\"scaling-bn-forward-train-nchw-f32\"",
                         "id=\"accuracy-bn-forward-train-f32\""}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // the SVG namespace only
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST(Render, MarkdownHasTheSummaryAndAccuracyTables) {
  const std::string markdown = render_markdown(rendered_report());
  EXPECT_NE(markdown.find("| bn_forward_train | nchw | f32 | 1 | `openmp` | 4.00x | 1.25x (onednn) | 50% |"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| `openmp` | bn_forward_train | f32 | - | 1e-06 | 0.010 | **FAIL** 100 |"), std::string::npos)
      << markdown;
}

// ---- accuracy --------------------------------------------------------------------------------

TEST(Accuracy, ConditionedCasesHaveTheRequestedRatio) {
  bnh::CaseSpec spec;
  spec.desc = {8, 3, 4, 4, bnh::Layout::nhwc, bnh::DType::f64};
  for (double kappa : {1.0, 1e4, 1e8}) {
    const bnh::Case conditioned = make_conditioned_case(spec, kappa);
    EXPECT_NEAR(condition_of(conditioned) / kappa, 1, 1e-6) << kappa;
  }
}

TEST(Accuracy, OneEntryPerImplementationOperationDtypeAndPoint) {
  AccuracyOptions options;
  options.implementations = {"naive"};
  options.operations = {bnh::Operation::bn_forward_infer, bnh::Operation::bn_backward};
  options.dtypes = {bnh::DType::f32};
  options.kappas = {1, 1e4};
  options.cases = 2;
  options.shapes = {{4, 2, 2, 2}};
  const auto entries = measure_accuracy(options);
  ASSERT_EQ(entries.size(), 2u * 3u);  // normal, kappa 1, kappa 1e4
  for (const auto& entry : entries) {
    EXPECT_EQ(entry["implementation"], "naive");
    EXPECT_EQ(entry["cases"], 2);
    EXPECT_EQ(entry["failed_cases"], 0);
    EXPECT_LE(entry["max_scaled_error"].get<double>(), entry["bound"].get<double>());
  }
  EXPECT_EQ(entries[0]["regime"], "normal");
  EXPECT_EQ(entries[2]["kappa"], 1e4);
}

// An implementation as a hostile plugin presents itself: a name and a refusal that are not
// UTF-8 and hold control characters.
class HostileStrings : public bnh::Implementation {
 public:
  std::string name() const override { return "bad\xff\xfe\nname"; }
  std::string description() const override { return "\x1b[31m"; }
  bool supports(const bnh::TensorDesc& desc) const override { return desc.dtype == bnh::DType::f64; }
  bool supports(bnh::Operation operation) const override { return operation == bnh::Operation::bn_forward_infer; }
  void bn_forward_infer(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*,
                        const void*, const void*, void*) override {
    throw bnh::PluginRefusal("bad\xff rejected bn_forward_infer: \xc3\x1b[2J");
  }
  void bn_forward_train(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, void*,
                        void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void bn_backward(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, const void*,
                   const void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void renorm_forward_train(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*, void*,
                            void*, void*, void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
  void renorm_backward(const bnh::TensorDesc&, const bnh::Params&, const void*, const void*, const void*,
                       const void*, const void*, const void*, const void*, void*, void*, void*) override {
    throw bnh::Unsupported("no");
  }
};

TEST(Accuracy, EntriesOfAPluginWithHostileStringsAreValidJson) {
  HostileStrings hostile;
  AccuracyOptions options;
  options.operations = {bnh::Operation::bn_forward_infer};
  options.dtypes = {bnh::DType::f64};
  options.kappas = {1};
  options.cases = 1;
  options.shapes = {shape_with_m(16, 2)};
  const auto entries = measure_accuracy({&hostile}, options);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(entries[0].contains("error"));
  EXPECT_NO_THROW(entries.dump());  // the strict dump: every string is valid UTF-8
  EXPECT_EQ(entries[0]["implementation"], "bad\xEF\xBF\xBD\xEF\xBF\xBD\nname");
}

TEST(Accuracy, SweepsMWithGivenImplementations) {
  const auto naive = bnh::make_implementation("naive");
  AccuracyOptions options;
  options.operations = {bnh::Operation::bn_forward_train};
  options.dtypes = {bnh::DType::f64};
  options.kappas = {1e6};
  options.cases = 1;
  options.shapes = {shape_with_m(16, 2), shape_with_m(1001, 2)};
  const auto entries = measure_accuracy({naive.get()}, options);
  ASSERT_EQ(entries.size(), 2u * 2u);  // (normal, kappa 1e6) x two M
  EXPECT_EQ(entries[0]["m"], 16);
  EXPECT_EQ(entries[0]["shape"], nlohmann::json({8, 2, 2, 1}));
  EXPECT_EQ(entries[3]["m"], 1001);
  EXPECT_EQ(entries[3]["shape"], nlohmann::json({1, 2, 1001, 1}));

  // An accuracy report: a row per M in the Markdown, a line per M in the charts.
  nlohmann::json report = new_report(machine_info({}), build_info());
  report["suite"] = {{"name", "accuracy"}, {"cases", 1}, {"seed", 1}, {"channels", 2}};
  report["accuracy"] = entries;
  EXPECT_TRUE(is_accuracy_report(report));
  const std::string markdown = render_markdown(report);
  EXPECT_NE(markdown.find("# bnharness accuracy"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| `naive` | bn_forward_train | f64 | 1001 |"), std::string::npos) << markdown;
  EXPECT_EQ(markdown.find("## Summary"), std::string::npos) << markdown;
  const std::string html = render_html(report);
  EXPECT_NE(html.find("naive, M 1001"), std::string::npos);
}

}  // namespace
