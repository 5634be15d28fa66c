#include "daemon/http_response.h"

#include <nlohmann/json.hpp>

namespace nudged {

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::error(int status, std::string_view code, std::string_view message,
                                 std::string_view field) {
  // SPEC §5's shape always: `field` is null when no one field is at fault (a bad signature,
  // a body too large), so a client can read it without checking that it is there.
  nlohmann::ordered_json e = {{"code", code}, {"message", message}, {"field", nullptr}};
  if (!field.empty()) e["field"] = field;
  // Invalid UTF-8 from a request must not make the error itself fail to serialise.
  return json(status, nlohmann::ordered_json{{"error", e}}.dump(
                          -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string HttpResponse::serialize(bool keep_alive, bool with_body) const {
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  // Bodies may carry ids of people's registrations: no cache keeps them.
  out += "\r\nCache-Control: no-store\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  if (with_body) out += body;
  return out;
}

}  // namespace nudged
