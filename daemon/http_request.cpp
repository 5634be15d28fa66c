#include "daemon/http_request.h"

#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>

namespace nudged {

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::string HttpRequest::media_type() const {
  const std::string* v = header("content-type");
  if (v == nullptr) return {};
  std::string_view t = *v;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
    t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
    t.remove_prefix(1);
  std::string out(t);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    out.emplace_back(percent_decode(name, true), percent_decode(value, true));
  }
  return out;
}

// The first transfer coding named in the request's Transfer-Encoding fields that is not
// "chunked" (lower-cased), or nothing when chunked is all there is. Chunked twice counts as
// another coding: it may be applied once only.
std::optional<std::string> other_transfer_coding(const HttpRequest& request) {
  int chunked = 0;
  for (const auto& [name, value] : request.headers) {
    if (name != "transfer-encoding") continue;
    std::string_view list = value;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      item = item.substr(0, item.find(';'));  // parameters: "gzip;q=1" is still gzip
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
        item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
        item.remove_suffix(1);
      if (item.empty()) continue;
      std::string coding(item);
      for (char& c : coding)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (coding != "chunked" || ++chunked > 1) return coding;
    }
  }
  return std::nullopt;
}

// The http_parser callbacks, reaching the RequestParser through parser.data.
struct RequestParser::Impl {
  http_parser parser{};
  http_parser_settings settings{};

  static RequestParser* self(http_parser* p) { return static_cast<RequestParser*>(p->data); }

  static int on_message_begin(http_parser* p) {
    RequestParser* r = self(p);
    r->started_ = true;
    return 0;
  }
  static int on_url(http_parser* p, const char* at, size_t len) {
    self(p)->request_.target.append(at, len);
    return 0;
  }
  static int on_header_field(http_parser* p, const char* at, size_t len) {
    RequestParser* r = self(p);
    if (r->headers_done_) {
      // Trailers after a chunked body would slip past the header limits and could set
      // headers (a content type, an idempotency key) after the body was read.
      r->fail(400, "trailers are not accepted");
      return -1;
    }
    if (r->in_value_ || (r->request_.headers.empty() && r->field_.empty())) {
      if (r->request_.headers.size() >= r->limits_.max_headers) {
        r->fail(431, "too many header fields");
        return -1;
      }
      r->field_.clear();
      r->in_value_ = false;
    }
    r->field_.append(at, len);
    return 0;
  }
  static int on_header_value(http_parser* p, const char* at, size_t len) {
    RequestParser* r = self(p);
    if (!r->in_value_) {
      std::string name = r->field_;
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r->request_.headers.emplace_back(std::move(name), std::string());
      r->in_value_ = true;
    }
    r->request_.headers.back().second.append(at, len);
    return 0;
  }
  static int on_headers_complete(http_parser* p) {
    RequestParser* r = self(p);
    r->headers_done_ = true;
    HttpRequest& q = r->request_;
    q.method = http_method_str(static_cast<http_method>(p->method));
    size_t mark = q.target.find('?');
    q.path = q.target.substr(0, mark);
    q.query = mark == std::string::npos ? std::string() : q.target.substr(mark + 1);
    q.keep_alive = http_should_keep_alive(p) != 0;
    if (p->upgrade) {
      r->fail(400, "protocol upgrades are not supported");
      return -1;
    }
    // http_parser reads any one-digit major version; this server speaks 1.0 and 1.1 only.
    if (p->http_major != 1) {
      r->fail(505, "only HTTP/1.1 and HTTP/1.0 are served");
      return -1;
    }
    // The size is decided before a byte of the body is read (chunked bodies are counted as
    // they arrive, in on_body).
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (chunked) {
      // http_parser decodes chunked when it is the last coding and lets any before it through
      // ("gzip, chunked"): the handlers would then get a body still gzipped. Chunked is the
      // only coding understood here (RFC 9112 §6.1: 501 for the others).
      if (std::optional<std::string> other = other_transfer_coding(q)) {
        r->fail(501, "the transfer coding \"" + *other + "\" is not supported (only chunked)");
        return -1;
      }
    }
    if (!chunked && p->content_length != ULLONG_MAX && p->content_length > r->limits_.max_body) {
      r->fail(413, "the body is larger than " + std::to_string(r->limits_.max_body) + " bytes");
      return -1;
    }
    if (const std::string* expect = q.header("expect")) {
      if (strcasecmp(expect->c_str(), "100-continue") == 0) r->wants_continue_ = true;
    }
    return 0;
  }
  static int on_body(http_parser* p, const char* at, size_t len) {
    RequestParser* r = self(p);
    if (r->request_.body.size() + len > r->limits_.max_body) {
      r->fail(413, "the body is larger than " + std::to_string(r->limits_.max_body) + " bytes");
      return -1;
    }
    r->request_.body.append(at, len);
    return 0;
  }
  static int on_message_complete(http_parser* p) {
    RequestParser* r = self(p);
    r->state_ = State::kComplete;
    // Stop right here: the bytes after this request belong to the next one.
    http_parser_pause(p, 1);
    return 0;
  }
};

RequestParser::RequestParser(ParserLimits limits) : limits_(limits), impl_(new Impl) {
  http_parser_init(&impl_->parser, HTTP_REQUEST);
  impl_->parser.data = this;
  http_parser_settings& s = impl_->settings;
  http_parser_settings_init(&s);
  s.on_message_begin = &Impl::on_message_begin;
  s.on_url = &Impl::on_url;
  s.on_header_field = &Impl::on_header_field;
  s.on_header_value = &Impl::on_header_value;
  s.on_headers_complete = &Impl::on_headers_complete;
  s.on_body = &Impl::on_body;
  s.on_message_complete = &Impl::on_message_complete;
}

RequestParser::~RequestParser() = default;

void RequestParser::fail(int status, std::string message) {
  if (state_ == State::kError) return;
  state_ = State::kError;
  error_status_ = status;
  error_message_ = std::move(message);
}

size_t RequestParser::feed(const char* data, size_t len) {
  size_t consumed = 0;
  while (consumed < len && state_ == State::kNeedMore) {
    size_t chunk = len - consumed;
    if (!headers_done_) {
      // Never hand the parser more header bytes than the limit allows: a request whose
      // headers do not end within it is refused without buffering the rest.
      if (header_bytes_ >= limits_.max_header_bytes) {
        fail(431, "the request line and headers are larger than " +
                      std::to_string(limits_.max_header_bytes) + " bytes");
        break;
      }
      chunk = std::min(chunk, limits_.max_header_bytes - header_bytes_);
    }
    bool before_headers = !headers_done_;
    size_t n = http_parser_execute(&impl_->parser, &impl_->settings, data + consumed, chunk);
    if (before_headers) header_bytes_ += n;
    consumed += n;
    http_errno err = HTTP_PARSER_ERRNO(&impl_->parser);
    if (err == HPE_PAUSED) break;  // a request is complete
    if (err != HPE_OK) {
      fail(400, std::string("malformed request: ") + http_errno_description(err));
      break;
    }
    if (n < chunk) {  // cannot happen without an error; be safe rather than spin
      fail(400, "malformed request");
      break;
    }
  }
  return consumed;
}

HttpRequest RequestParser::take() {
  HttpRequest out = std::move(request_);
  request_ = HttpRequest();
  field_.clear();
  in_value_ = false;
  headers_done_ = false;
  started_ = false;
  wants_continue_ = false;
  header_bytes_ = 0;
  state_ = State::kNeedMore;
  http_parser_pause(&impl_->parser, 0);
  return out;
}

}  // namespace nudged
