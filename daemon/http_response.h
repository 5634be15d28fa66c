// HttpResponse: what a route answers, and how it goes on the wire.
//
// Every error nudged sends is the JSON of SPEC §5:
//   {"error": {"code": "invalid_field", "message": "...", "field": "email"}}
// Messages name fields and limits, never personal values. Plain values: any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nudged {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Retry-After

  static HttpResponse json(int status, std::string body);
  static HttpResponse error(int status, std::string_view code, std::string_view message,
                            std::string_view field = {});
  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain");

  // The status line, headers and body. `keep_alive` false adds "Connection: close". Without
  // the body for a HEAD request (Content-Length still gives the body's size).
  std::string serialize(bool keep_alive, bool with_body = true) const;
};

const char* reason_phrase(int status);

}  // namespace nudged
