// What a failed send is recorded as: the `error` of notification.failed (kept in the event log
// forever, in clear, after the person's erasure, and shown in exports) and the daemon's log
// lines about the failure.
//
// Built only from codes and our own fixed words, never from a provider's free text. Mail
// servers and Twilio write whatever they like in their refusals ("mailbox for Gina Bounce is
// full", "The 'To' number +1 415 555 0143 is not valid"): names, numbers and addresses of the
// people we write to, who live with chronic illness, so health data. Removing what looks
// personal from such text cannot be done reliably; leaving the text out can.
//
// The raw text may still be read to classify a failure (transient or permanent, the account or
// the recipient); it is just never kept.
#pragma once

#include <curl/curl.h>

#include <string>
#include <string_view>

namespace nudged {

// An SMTP refusal line ("550 5.1.1 <a@b>: no such user") as "550, 5.1.1: the mailbox does not
// exist": the reply code, the RFC 3463 enhanced status code when the server gave one, and our
// description of the most precise of them we know. The comma keeps the two codes from reading
// as one long run of digits, which the daemon's scrub() would take for a phone number. Empty
// when the line does not start with a 4xx or 5xx reply code.
std::string smtp_failure_text(std::string_view reply_line);

// A failed transfer with no answer to go by, by curl's result code alone: "timeout: the server
// did not answer in time (curl error 28)". Not curl's own message: its error buffer can quote
// the server's words.
std::string curl_failure_text(CURLcode code);

// A Twilio refusal: "HTTP 400, error 21211: the phone number is not valid", or without an error
// code (0) "HTTP 503: Twilio had a problem on its side". Never Twilio's `message`, which quotes
// the number.
std::string twilio_failure_text(long http_status, long twilio_code);

}  // namespace nudged
