// SMS length: how many segments a body costs, and cutting a body down to a number of segments.
//
// A body that fits the GSM 03.38 alphabet travels as GSM-7: 160 characters in one segment, 153
// per segment once split (the rest carries the concatenation header); the extension table's
// characters ({ } [ ] ~ \ | ^ €) take two. Anything else makes the whole message UCS-2: 70
// UTF-16 units alone, 67 per segment when split; a character outside the BMP takes two. An
// escape pair or a surrogate pair is never split across segments, so packing is greedy.
//
// Pure functions of UTF-8 text; any thread.
#pragma once

#include <string>
#include <string_view>

namespace nudged {

struct SmsSize {
  bool gsm7 = true;  // false: UCS-2
  int units = 0;     // septets (GSM-7) or UTF-16 units (UCS-2)
  int segments = 0;  // 0 for an empty body
};

SmsSize sms_size(std::string_view utf8);

// The body as is when it fits in `max_segments`; otherwise cut at the last word that fits,
// trailing spaces and punctuation dropped, and an ellipsis added ("..." for GSM-7, so that the
// cut never turns a GSM-7 message into a UCS-2 one, "…" for UCS-2).
std::string fit_sms(std::string_view utf8, int max_segments);

}  // namespace nudged
