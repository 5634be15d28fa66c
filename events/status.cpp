#include "events/status.h"

namespace nudged {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidField:
      return "invalid_field";
    case Code::kMalformed:
      return "malformed";
    case Code::kNotFound:
      return "not_found";
    case Code::kConflict:
      return "conflict";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kCorrupt:
      return "corrupt";
    case Code::kIo:
      return "io_error";
  }
  return "unknown";
}

Status Status::within(const std::string& prefix) const {
  Status s = *this;
  if (prefix.empty()) return s;
  s.field_ = field_.empty() ? prefix : prefix + "." + field_;
  return s;
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  if (field_.empty()) return message_;
  return field_ + ": " + message_;
}

}  // namespace nudged
