// libFuzzer: the HTTP request path — bytes off a socket into RequestParser, split at places
// chosen by the input, pipelined requests taken one after another. Checks the limits hold:
// no request ever carries more than the limits allow.
#include <cstddef>
#include <cstdint>

#include "daemon/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  nudged::ParserLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_headers = 20;
  limits.max_body = 1024;
  nudged::RequestParser parser(limits);
  // The first byte picks the read size, as a socket would split the stream.
  size_t step = 1 + data[0] % 64;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  std::string pending;
  while (left > 0 || !pending.empty()) {
    size_t take = std::min(step, left);
    pending.append(p, take);
    p += take;
    left -= take;
    size_t used = parser.feed(pending.data(), pending.size());
    if (used > pending.size()) __builtin_trap();
    pending.erase(0, used);
    if (parser.state() == nudged::RequestParser::State::kError) {
      int s = parser.error_status();
      if (s != 400 && s != 413 && s != 431 && s != 501 && s != 505) __builtin_trap();
      return 0;
    }
    if (parser.state() == nudged::RequestParser::State::kComplete) {
      nudged::HttpRequest r = parser.take();
      if (r.body.size() > limits.max_body || r.headers.size() > limits.max_headers) {
        __builtin_trap();
      }
      (void)r.media_type();
      (void)nudged::parse_form(r.query);
      continue;
    }
    if (take == 0) break;  // everything fed; the request is incomplete
  }
  return 0;
}
