#include "daemon/http_request.h"

#include <gtest/gtest.h>

#include <cstring>

namespace nudged {
namespace {

ParserLimits small_limits() {
  ParserLimits l;
  l.max_header_bytes = 256;
  l.max_headers = 5;
  l.max_body = 32;
  return l;
}

TEST(RequestParser, ParsesARequestFedOneByteAtATime) {
  std::string wire =
      "POST /v1/unsubscribe?token=a%2Eb HTTP/1.1\r\nHost: x\r\nContent-Type: Application/JSON; "
      "charset=utf-8\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
  RequestParser p(small_limits());
  for (size_t i = 0; i < wire.size(); ++i) {
    ASSERT_EQ(p.state(), RequestParser::State::kNeedMore) << i;
    EXPECT_EQ(p.feed(wire.data() + i, 1), 1u);
  }
  ASSERT_EQ(p.state(), RequestParser::State::kComplete);
  HttpRequest r = p.take();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/v1/unsubscribe");
  EXPECT_EQ(r.query, "token=a%2Eb");
  EXPECT_EQ(r.body, "{\"a\":1}");
  EXPECT_EQ(r.media_type(), "application/json");
  ASSERT_NE(r.header("content-length"), nullptr);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(parse_form(r.query)[0].second, "a.b");
}

TEST(RequestParser, StopsAtTheEndOfARequestSoPipelinedOnesWait) {
  std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  RequestParser p(small_limits());
  size_t used = p.feed(two.data(), two.size());
  ASSERT_EQ(p.state(), RequestParser::State::kComplete);
  EXPECT_EQ(p.take().path, "/a");
  EXPECT_LT(used, two.size());
  p.feed(two.data() + used, two.size() - used);
  ASSERT_EQ(p.state(), RequestParser::State::kComplete);
  EXPECT_EQ(p.take().path, "/b");
}

TEST(RequestParser, RefusesATooLargeBodyFromContentLengthAlone) {
  std::string head = "POST / HTTP/1.1\r\nContent-Length: 33\r\n\r\n";
  RequestParser p(small_limits());
  p.feed(head.data(), head.size());
  EXPECT_EQ(p.state(), RequestParser::State::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(RequestParser, CountsChunkedBodiesAsTheyArrive) {
  std::string wire = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" +
                     std::string(32, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n";
  RequestParser p(small_limits());
  p.feed(wire.data(), wire.size());
  EXPECT_EQ(p.state(), RequestParser::State::kError);
  EXPECT_EQ(p.error_status(), 413);
}

TEST(RequestParser, RefusesHeadersOverTheByteLimitWithoutBufferingThem) {
  std::string wire = "GET / HTTP/1.1\r\nX-Big: " + std::string(1000, 'a') + "\r\n\r\n";
  RequestParser p(small_limits());
  size_t used = p.feed(wire.data(), wire.size());
  EXPECT_EQ(p.state(), RequestParser::State::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_LE(used, 256u);
}

TEST(RequestParser, RefusesTooManyHeaderFields) {
  std::string wire = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i)
    wire += "X-" + std::to_string(i) + ": v\r\n";
  wire += "\r\n";
  RequestParser p(small_limits());
  p.feed(wire.data(), wire.size());
  EXPECT_EQ(p.error_status(), 431);
}

TEST(RequestParser, MalformedIs400AndExpectContinueIsNoticed) {
  RequestParser bad(small_limits());
  std::string junk = "HELLO\r\n\r\n";
  bad.feed(junk.data(), junk.size());
  EXPECT_EQ(bad.error_status(), 400);

  RequestParser p(small_limits());
  std::string head = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  p.feed(head.data(), head.size());
  EXPECT_TRUE(p.headers_done());
  EXPECT_TRUE(p.wants_continue());
  EXPECT_EQ(p.state(), RequestParser::State::kNeedMore);
}

TEST(RequestParser, ConnectionCloseAndHttp10AreNotKeptAlive) {
  RequestParser p(small_limits());
  std::string a = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  p.feed(a.data(), a.size());
  EXPECT_FALSE(p.take().keep_alive);
  std::string b = "GET / HTTP/1.0\r\n\r\n";
  p.feed(b.data(), b.size());
  EXPECT_FALSE(p.take().keep_alive);
}

TEST(Form, DecodesPlusAndPercentAndKeepsBadEscapes) {
  auto f = parse_form("Body=Stop+now%21&From=%2B14155550123&x=%zz&&flag");
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].second, "Stop now!");
  EXPECT_EQ(f[1].second, "+14155550123");
  EXPECT_EQ(f[2].second, "%zz");
  EXPECT_EQ(f[3].first, "flag");
  EXPECT_EQ(f[3].second, "");
}

}  // namespace
}  // namespace nudged

namespace nudged {
namespace {

TEST(RequestParser, RefusesTrailersAfterAChunkedBody) {
  std::string wire =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
      "Idempotency-Key: late\r\n\r\n";
  RequestParser p(ParserLimits{});
  p.feed(wire.data(), wire.size());
  EXPECT_EQ(p.state(), RequestParser::State::kError);
  EXPECT_EQ(p.error_status(), 400);
}

}  // namespace
}  // namespace nudged

namespace nudged {
namespace {

TEST(RequestParser, OnlyHttp1IsServed) {
  for (const char* line : {"GET / HTTP/2.0\r\n\r\n", "GET / HTTP/3.1\r\n\r\n"}) {
    RequestParser p(ParserLimits{});
    p.feed(line, std::strlen(line));
    EXPECT_EQ(p.state(), RequestParser::State::kError) << line;
    EXPECT_EQ(p.error_status(), 505) << line;
  }
  std::string ok = "GET / HTTP/1.0\r\n\r\n";
  RequestParser p(ParserLimits{});
  p.feed(ok.data(), ok.size());
  EXPECT_EQ(p.state(), RequestParser::State::kComplete);
}

TEST(RequestParser, TransferCodingsOtherThanChunkedAre501) {
  // "gzip, chunked" passes http_parser (chunked is last) but the body would stay gzipped.
  for (const char* te :
       {"gzip, chunked", "GZIP,chunked", "deflate;q=1, chunked", "identity, chunked"}) {
    std::string wire =
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: ") + te + "\r\n\r\n1\r\na\r\n0\r\n\r\n";
    RequestParser p(ParserLimits{});
    p.feed(wire.data(), wire.size());
    EXPECT_EQ(p.state(), RequestParser::State::kError) << te;
    EXPECT_EQ(p.error_status(), 501) << te;
  }
  // Chunked may be applied once only: refused, by http_parser itself (400) or here (501).
  for (const char* te : {"chunked, chunked", "chunked\r\nTransfer-Encoding: chunked"}) {
    std::string wire =
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: ") + te + "\r\n\r\n1\r\na\r\n0\r\n\r\n";
    RequestParser p(ParserLimits{});
    p.feed(wire.data(), wire.size());
    EXPECT_EQ(p.state(), RequestParser::State::kError) << te;
  }
  // Two fields count as one list.
  std::string two =
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\n\r\n";
  RequestParser split(ParserLimits{});
  split.feed(two.data(), two.size());
  EXPECT_EQ(split.error_status(), 501);
  // Plain chunked, in any case and with spaces, is read as before.
  std::string wire = "POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n1\r\na\r\n0\r\n\r\n";
  RequestParser p(ParserLimits{});
  p.feed(wire.data(), wire.size());
  ASSERT_EQ(p.state(), RequestParser::State::kComplete);
  EXPECT_EQ(p.take().body, "a");
}

}  // namespace
}  // namespace nudged
