#include "events/json_depth.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace nudged {
namespace {

std::string nested(int depth, char open = '[', char close = ']') {
  return std::string(static_cast<size_t>(depth), open) +
         std::string(static_cast<size_t>(depth), close);
}

TEST(JsonDepth, CountsArraysAndObjectsTogether) {
  EXPECT_TRUE(json_depth_within("{}", 1));
  EXPECT_FALSE(json_depth_within("{}", 0));
  EXPECT_TRUE(json_depth_within(R"({"a":[{"b":[1]}]})", 4));
  EXPECT_FALSE(json_depth_within(R"({"a":[{"b":[1]}]})", 3));
  EXPECT_TRUE(json_depth_within("123", 0));  // a scalar nests nothing
}

TEST(JsonDepth, SiblingsDoNotAddUp) {
  std::string many;
  for (int i = 0; i < 1000; ++i)
    many += "[[1]],";
  EXPECT_TRUE(json_depth_within("[" + many + "0]", 3));
}

TEST(JsonDepth, BracketsInStringsDoNotCount) {
  EXPECT_TRUE(json_depth_within(R"({"reason":"[[[[[[{{{{"})", 1));
  // An escaped quote does not end the string; an escaped backslash before a quote does.
  EXPECT_TRUE(json_depth_within(R"({"a":"\"[[[["})", 1));
  EXPECT_FALSE(json_depth_within(R"({"a":"\\",[[[[1]]]]})", 2));
}

TEST(JsonDepth, TheLimitIsInclusive) {
  EXPECT_TRUE(json_depth_within(nested(kMaxJsonDepth)));
  EXPECT_FALSE(json_depth_within(nested(kMaxJsonDepth + 1)));
  EXPECT_FALSE(json_depth_within(nested(kMaxJsonDepth + 1, '{', '}')));
}

TEST(JsonDepth, AHostileBodyIsRefusedAtOnce) {
  // What crashed the cancel route: 64 KiB of brackets, converted recursively by nlohmann.
  std::string body = R"({"reason":)" + nested(32000) + "}";
  EXPECT_FALSE(json_depth_within(body));
  // Unbalanced or invalid text is the parser's business; depth alone is judged here.
  EXPECT_FALSE(json_depth_within(std::string(100000, '[')));
  EXPECT_TRUE(json_depth_within(std::string(100000, ']')));
  EXPECT_FALSE(json_depth_within(std::string(1000, ']') + nested(kMaxJsonDepth + 1)));
}

TEST(JsonDepth, AgreesWithWhatNlohmannParses) {
  // The same depth as nlohmann's own structure, for a shape bodies really have.
  std::string zoom = R"({"event":"meeting.registration_created","payload":{"object":{"registrant":)"
                     R"({"custom_questions":[{"title":"a","value":"b"}]}}}})";
  ASSERT_FALSE(nlohmann::json::parse(zoom, nullptr, false).is_discarded());
  EXPECT_TRUE(json_depth_within(zoom, 6));
  EXPECT_FALSE(json_depth_within(zoom, 5));
}

}  // namespace
}  // namespace nudged
