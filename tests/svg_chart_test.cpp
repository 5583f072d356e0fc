// The SVG charts of the HTML report: scales, ticks, escaping, and what is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "reports/svg_chart.hpp"

namespace {

using namespace bnh::reports::svg;

int count(const std::string& text, const std::string& what) {
  int found = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
  return found;
}

TEST(SvgScale, LinearMapsTheEndsAndTheMiddle) {
  const Scale y{0, 10, false, 300, 100};  // a y axis: pixels grow downwards
  EXPECT_DOUBLE_EQ(y(0), 300);
  EXPECT_DOUBLE_EQ(y(10), 100);
  EXPECT_DOUBLE_EQ(y(5), 200);
}

TEST(SvgScale, LogMapsDecadesEvenlyAndClampsBelowItsRange) {
  const Scale x{1, 1000, true, 0, 300};
  EXPECT_NEAR(x(1), 0, 1e-9);
  EXPECT_NEAR(x(10), 100, 1e-9);
  EXPECT_NEAR(x(100), 200, 1e-9);
  EXPECT_NEAR(x(1000), 300, 1e-9);
  EXPECT_NEAR(x(1e-6), 0, 1e-9);  // below lo: at lo
}

TEST(SvgScale, LinearTicksAreRoundSteps) {
  EXPECT_EQ((Scale{0, 10, false, 0, 1}.ticks()), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ((Scale{0, 1.08, false, 0, 1}.ticks()), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
}

TEST(SvgScale, LogTicksArePowersOfTenOr125WithinADecade) {
  EXPECT_EQ((Scale{0.5, 2000, true, 0, 1}.ticks()), (std::vector<double>{1, 10, 100, 1000}));
  const auto narrow = Scale{1.5, 8, true, 0, 1}.ticks();
  ASSERT_EQ(narrow.size(), 2u);
  EXPECT_DOUBLE_EQ(narrow[0], 2);
  EXPECT_DOUBLE_EQ(narrow[1], 5);
  // Many decades: at most about 8 labels.
  EXPECT_LE((Scale{1e-12, 1e12, true, 0, 1}.ticks().size()), 9u);
}

TEST(SvgScale, AnEmptyOrInvalidRangeHasNoTicks) {
  EXPECT_TRUE((Scale{1, 1, false, 0, 1}.ticks().empty()));
  EXPECT_TRUE((Scale{0, 10, true, 0, 1}.ticks().empty()));
  EXPECT_TRUE((Scale{0, HUGE_VAL, false, 0, 1}.ticks().empty()));
}

TEST(SvgScale, TickLabelsAreShort) {
  EXPECT_EQ(tick_label(20, false), "20");
  EXPECT_EQ(tick_label(2.5, false), "2.5");
  EXPECT_EQ(tick_label(0.05, false), "0.05");
  EXPECT_EQ(tick_label(1e4, true), "1e4");
  EXPECT_EQ(tick_label(1e-3, true), "1e-3");
  EXPECT_EQ(tick_label(100, true), "100");
}

TEST(SvgText, EscapesMarkupAndQuotes) {
  EXPECT_EQ(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(slug("bn_backward/nchw 2"), "bn-backward-nchw-2");
}

TEST(SvgBarChart, LabelsAndTipsAreEscapedEverywhere) {
  BarChart chart;
  chart.id = "x\"y";
  chart.kind = "bandwidth";
  chart.title = "<title & more>";
  chart.y_label = "GB/s";
  chart.categories = {"<shape>"};
  chart.series = {{"impl<script>", palette_colour(0), {Bar{3, "tip \"quoted\" & <b>"}}}};
  chart.references = {{"copy <probe>", 5}};
  const std::string svg = render(chart);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<shape>"), std::string::npos);
  EXPECT_EQ(svg.find("<title & more>"), std::string::npos);
  EXPECT_NE(svg.find("id=\"x&quot;y\""), std::string::npos);
  EXPECT_NE(svg.find("impl&lt;script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("tip &quot;quoted&quot; &amp; &lt;b&gt;"), std::string::npos);
  EXPECT_NE(svg.find("copy &lt;probe&gt;"), std::string::npos);
}

TEST(SvgBarChart, OneBarPerMeasuredValueAndEachSeriesInTheLegend) {
  BarChart chart;
  chart.id = "c";
  chart.kind = "bandwidth";
  chart.categories = {"a", "b", "c"};
  chart.series = {{"first", "#111111", {Bar{1, "1"}, Bar{2, "2"}, std::nullopt}},
                  {"second", "#222222", {Bar{3, "3"}, Bar{4, "4"}, Bar{5, "5"}}}};
  const std::string svg = render(chart);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 5);
  EXPECT_EQ(count(svg, "fill=\"#111111\""), 2 + 1);  // two bars and the legend's box
  EXPECT_EQ(count(svg, "fill=\"#222222\""), 3 + 1);
  EXPECT_EQ(svg.find("nothing to show"), std::string::npos);
}

TEST(SvgBarChart, NonFiniteValuesAreSkippedAndDoNotStretchTheAxis) {
  BarChart chart;
  chart.categories = {"a", "b", "c"};
  chart.series = {{"s", "#111111", {Bar{1, "one"}, Bar{NAN, "nan"}, Bar{HUGE_VAL, "inf"}}}};
  const std::string svg = render(chart);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 1);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(svg.find("\"nan\""), std::string::npos);
}

TEST(SvgBarChart, OnALogAxisBarsGrowFromOneAndNonPositiveValuesAreSkipped) {
  BarChart chart;
  chart.log_from_one = true;
  chart.categories = {"a", "b", "c"};
  chart.series = {{"s", "#111111", {Bar{4, "up"}, Bar{0.25, "down"}, Bar{0, "zero"}}}};
  const std::string svg = render(chart);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 2);
  EXPECT_EQ(svg.find("zero"), std::string::npos);
  // Both bars start at the pixel of 1, one above it and one below: equal heights (4 and 1/4).
  const std::regex bar("<rect class=\"bar\" x=\"[0-9.]+\" y=\"([0-9.]+)\" width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  std::vector<std::pair<double, double>> spans;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar); it != std::sregex_iterator(); ++it) {
    spans.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  }
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_NEAR(spans[0].second, spans[1].second, 0.15);
  EXPECT_NEAR(spans[0].first + spans[0].second, spans[1].first, 0.15);  // 4's bar ends where 1/4's begins
}

TEST(SvgBarChart, AnEmptyChartSaysSo) {
  BarChart chart;
  chart.id = "empty";
  chart.kind = "speedup";
  const std::string svg = render(chart);
  EXPECT_NE(svg.find("nothing to show"), std::string::npos);
  EXPECT_NE(svg.find("class=\"chart speedup\""), std::string::npos);
  EXPECT_EQ(count(svg, "<figure>"), 1);
  EXPECT_EQ(count(svg, "</figure>"), 1);
}

TEST(SvgLineChart, PointsOnLogAxesLandOnTheirDecades) {
  LineChart chart;
  chart.x_log = chart.y_log = true;
  chart.series = {{"s", "#111111", {{1, 1, "a"}, {10, 10, "b"}, {100, 100, "c"}}}};
  const std::string svg = render(chart);
  const std::regex circle("<circle class=\"point\" cx=\"([0-9.]+)\" cy=\"([0-9.]+)\"");
  std::vector<std::pair<double, double>> at;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), circle); it != std::sregex_iterator(); ++it) {
    at.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  }
  ASSERT_EQ(at.size(), 3u);
  EXPECT_NEAR(at[1].first - at[0].first, at[2].first - at[1].first, 0.15);    // a decade, a decade
  EXPECT_NEAR(at[0].second - at[1].second, at[1].second - at[2].second, 0.15);
  EXPECT_GT(at[2].first, at[0].first);
  EXPECT_LT(at[2].second, at[0].second);  // larger values higher up
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

TEST(SvgLineChart, NonFiniteAndNonPositiveLogPointsAreSkipped) {
  LineChart chart;
  chart.x_log = chart.y_log = true;
  chart.series = {{"s", "#111111", {{1, 1, "kept"}, {NAN, 1, "x nan"}, {1, HUGE_VAL, "y inf"}, {0, 1, "x zero"},
                                    {10, -1, "y negative"}, {10, 2, "kept too"}}}};
  const std::string svg = render(chart);
  EXPECT_EQ(count(svg, "<circle class=\"point\""), 2);
  for (const char* skipped : {"x nan", "y inf", "x zero", "y negative"}) {
    EXPECT_EQ(svg.find(skipped), std::string::npos) << skipped;
  }
}

TEST(SvgLineChart, HollowPointsIdealLineAndReferences) {
  LineChart chart;
  chart.series = {{"s", "#111111", {{1, 1, "a", true}, {2, 1.8, "b", false}}}};
  chart.ideal = {{1, 1, ""}, {2, 2, ""}};
  chart.references = {{"bound", 3, "#b00", "6 3"}};
  const std::string svg = render(chart);
  EXPECT_EQ(count(svg, "fill=\"white\""), 1);
  EXPECT_NE(svg.find(">ideal</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>bound: 3</title>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2);  // the ideal and the series
}

TEST(SvgLineChart, AnEmptySeriesDrawsNothingAndIsNotInTheLegend) {
  LineChart chart;
  chart.series = {{"absent", "#111111", {}}};
  const std::string svg = render(chart);
  EXPECT_NE(svg.find("nothing to show"), std::string::npos);
  EXPECT_EQ(svg.find("absent"), std::string::npos);
  EXPECT_EQ(svg.find("<polyline"), std::string::npos);
}

TEST(SvgPalette, DistinctColoursInOrder) {
  EXPECT_NE(palette_colour(0), palette_colour(1));
  EXPECT_NE(palette_colour(1), palette_colour(2));
  EXPECT_NE(palette_colour(0), baseline_colour);
}

}  // namespace
