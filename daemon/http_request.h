// HttpRequest and RequestParser: one HTTP/1.1 request read off a byte stream, with limits.
//
// RequestParser wraps Debian's http-parser behind an interface of our own, so the parser can
// be swapped without touching the server or the routes. It holds no sockets and no clock: the
// server feeds it bytes and asks what happened, which is also what the fuzzer does.
//
// Limits are enforced while parsing, before anything is buffered beyond them: the request line
// and headers together at most `max_header_bytes` (431), at most `max_headers` fields (431), a
// body at most `max_body` bytes, refused from Content-Length before any of it is read (413).
//
// One parser per connection; not thread-safe. Pipelined requests: after kComplete, take() the
// request and feed() the bytes that were not consumed.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nudged {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/unsubscribe?token=abc"
  std::string path;    // target before '?', percent-decoding not applied
  std::string query;   // after '?', without it
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  bool keep_alive = true;

  // The first header of that name (give it in lower case), or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // The media type of Content-Type, lower case, without parameters ("application/json").
  std::string media_type() const;
};

// Decodes application/x-www-form-urlencoded text (a query string or a form body) into pairs,
// in order ('+' is a space, %XX a byte). Malformed escapes are kept as written.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text);
std::string percent_decode(std::string_view text, bool plus_is_space);

struct ParserLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_headers = 100;
  size_t max_body = 64 * 1024;
};

class RequestParser {
 public:
  enum class State {
    kNeedMore,  // give it more bytes
    kComplete,  // a whole request is ready: take() it
    kError,     // the request is refused: error_status() says how; close after answering
  };

  explicit RequestParser(ParserLimits limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses up to `len` bytes and returns how many it consumed. It stops right after a complete
  // request, so bytes of a pipelined next request are left for the next call.
  size_t feed(const char* data, size_t len);

  State state() const { return state_; }
  // Whether the request line and all headers have been read (the body timeout applies then).
  bool headers_done() const { return headers_done_; }
  // Whether any byte of the current request has arrived (an idle connection has none).
  bool started() const { return started_; }
  // Set when the headers ask for "Expect: 100-continue" and the body is acceptable.
  bool wants_continue() const { return wants_continue_; }
  int error_status() const { return error_status_; }  // 400, 413, 431
  const std::string& error_message() const { return error_message_; }

  // Hands over the complete request and makes ready for the next one.
  HttpRequest take();

 private:
  struct Impl;
  friend struct Impl;
  void fail(int status, std::string message);

  ParserLimits limits_;
  std::unique_ptr<Impl> impl_;
  HttpRequest request_;
  State state_ = State::kNeedMore;
  bool headers_done_ = false;
  bool started_ = false;
  bool wants_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
  size_t header_bytes_ = 0;
  std::string field_;  // the header name being read
  bool in_value_ = false;
};

}  // namespace nudged
