// Status and Result<T>: how fallible calls in nudged report failure.
//
// Modelled on LevelDB's Status: a code, a message a person can read, and the name of the field
// at fault when one is. Exceptions are kept for start-up and configuration; everything that
// handles input returns one of these. Plain values: safe on any thread.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nudged {

enum class Code {
  kOk,
  kInvalidField,  // input is well-formed but a field is wrong (HTTP 422 / 400)
  kMalformed,     // input cannot be parsed at all (HTTP 400)
  kNotFound,      // a referenced thing does not exist
  kConflict,      // idempotency or expected_version conflict (HTTP 409)
  kUnavailable,   // the store cannot write right now (HTTP 503)
  kCorrupt,       // the log failed an integrity check
  kIo,            // an operating-system or SQLite error
};

// The stable lower-case name used in JSON errors and CLI output ("invalid_field", ...).
const char* code_name(Code code);

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status invalid(std::string field, std::string message) {
    return Status(Code::kInvalidField, std::move(message), std::move(field));
  }
  static Status malformed(std::string message, std::string field = {}) {
    return Status(Code::kMalformed, std::move(message), std::move(field));
  }
  static Status not_found(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status conflict(std::string message) {
    return Status(Code::kConflict, std::move(message));
  }
  static Status unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }
  static Status corrupt(std::string message) { return Status(Code::kCorrupt, std::move(message)); }
  static Status io(std::string message) { return Status(Code::kIo, std::move(message)); }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }

  // Returns a copy whose field is "<prefix>.<field>" (or "<prefix>" when empty), so nested
  // decoders can report "data.participant.email" without knowing where they are called from.
  Status within(const std::string& prefix) const;

  // "data.participant.email: not a valid email address" — what a person reads.
  std::string to_string() const;

 private:
  Status(Code code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  Code code_ = Code::kOk;
  std::string message_;
  std::string field_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nudged
