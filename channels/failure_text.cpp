#include "channels/failure_text.h"

#include <cctype>
#include <string>

namespace nudged {
namespace {

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// RFC 3463 (with RFC 3886, 4954, 7372, 7505, 8098 additions): "subject.detail" -> our words.
// The same for 4.x.x and 5.x.x: whether it is for now or for good is the class's business.
std::string_view enhanced_description(std::string_view subject_detail) {
  struct Entry {
    std::string_view code;
    std::string_view text;
  };
  static constexpr Entry kDetails[] = {
      {"1.1", "the mailbox does not exist"},
      {"1.2", "the mail domain does not exist"},
      {"1.3", "the address is not written correctly"},
      {"1.4", "the address matches more than one mailbox"},
      {"1.6", "the mailbox has moved"},
      {"1.7", "our sender address is not written correctly"},
      {"1.8", "our sender address was refused"},
      {"1.10", "the mail domain does not take mail"},
      {"2.1", "the mailbox is turned off"},
      {"2.2", "the mailbox is full"},
      {"2.3", "the message is too big for the mailbox"},
      {"2.4", "a mailing list problem on the receiving side"},
      {"3.1", "the mail system is full"},
      {"3.2", "the mail system is not taking messages"},
      {"3.3", "the mail system cannot handle this kind of message"},
      {"3.4", "the message is too big"},
      {"3.5", "the mail system is set up wrong"},
      {"4.1", "the receiving server did not answer"},
      {"4.2", "the connection broke"},
      {"4.3", "a lookup (DNS) failed"},
      {"4.4", "there is no route for the mail"},
      {"4.5", "the mail system is too busy"},
      {"4.6", "the mail went round in a loop"},
      {"4.7", "delivery took too long and was given up"},
      {"5.1", "the mail server did not know our command"},
      {"5.2", "the mail server could not read our command"},
      {"5.3", "too many recipients"},
      {"5.4", "the mail server did not accept our command's details"},
      {"6.1", "this kind of content is not accepted"},
      {"6.2", "the content would have to be changed, which is not allowed"},
      {"6.3", "the content would have to be changed, which is not possible"},
      {"6.5", "changing the content failed"},
      {"7.1", "the receiving server's rules refused the message"},
      {"7.2", "sending to this mailing list is not allowed"},
      {"7.3", "a needed security step is not possible"},
      {"7.4", "a needed security feature is not supported"},
      {"7.5", "a security check (encryption or signing) failed"},
      {"7.7", "the message failed an integrity check"},
      {"7.8", "the mail server did not accept our login"},
      {"7.9", "our login method is too weak for the mail server"},
      {"7.11", "the mail server needs an encrypted connection for our login"},
      {"7.13", "our mail account is turned off"},
      {"7.14", "the mail server does not trust our server"},
      {"7.23", "our server is not allowed to send for our domain (SPF)"},
      {"7.24", "the check of our domain's sending rules failed (SPF)"},
      {"7.25", "the check of our server's name failed (reverse DNS)"},
      {"7.26", "the message failed the sender checks (SPF, DKIM, DMARC)"},
      {"7.27", "our sender domain does not take mail"},
  };
  for (const Entry& e : kDetails) {
    if (e.code == subject_detail) return e.text;
  }
  return {};
}

// The subject alone (RFC 3463 section 3), for a detail we have no words for.
std::string_view subject_description(char subject) {
  switch (subject) {
    case '1':
      return "a problem with the address";
    case '2':
      return "a problem with the mailbox";
    case '3':
      return "a problem with the receiving mail system";
    case '4':
      return "a network or routing problem";
    case '5':
      return "a problem in the mail protocol";
    case '6':
      return "a problem with the message's content";
    case '7':
      return "refused for a security or policy reason";
    default:
      return {};
  }
}

// RFC 5321 (and 4954 for the login codes) reply codes.
std::string_view reply_description(int reply) {
  switch (reply) {
    case 421:
      return "the mail server is not available right now";
    case 450:
      return "the mailbox is not available right now";
    case 451:
      return "the mail server had a problem and asks us to try later";
    case 452:
      return "the mail server is out of room right now";
    case 454:
      return "the mail server cannot check our login right now";
    case 455:
      return "the mail server cannot take our settings right now";
    case 500:
    case 502:
      return "the mail server did not know our command";
    case 501:
    case 504:
      return "the mail server did not accept our command's details";
    case 503:
      return "the mail server did not expect our command";
    case 530:
      return "the mail server wants us to log in";
    case 534:
      return "our login method is too weak for the mail server";
    case 535:
      return "the mail server did not accept our login";
    case 538:
      return "the mail server needs an encrypted connection for our login";
    case 550:
      return "the mailbox is not available";
    case 551:
      return "the mailbox is not on this mail server";
    case 552:
      return "the mailbox is out of room";
    case 553:
      return "the mailbox name is not allowed";
    case 554:
      return "the mail server refused the message";
    case 555:
      return "the mail server did not accept our settings";
    default:
      return reply / 100 == 4 ? "the mail server asks us to try later"
                              : "the mail server refused the message";
  }
}

// Twilio's error dictionary (twilio.com/docs/api/errors/<code>), the codes a send can get.
std::string_view twilio_description(long code) {
  switch (code) {
    case 14107:
      return "the account sent texts faster than it is allowed to";
    case 20003:
      return "Twilio did not accept our login";
    case 20005:
      return "the Twilio account is not active";
    case 20404:
      return "Twilio could not find our account";
    case 20429:
    case 20503:
      return "too many requests to Twilio";
    case 20500:
      return "Twilio had a problem on its side";
    case 21211:
      return "the phone number is not valid";
    case 21212:
      return "our sending number is not valid";
    case 21408:
      return "the account is not allowed to text this country or region";
    case 21601:
    case 21614:
      return "the number cannot get texts (not a mobile number)";
    case 21602:
      return "the text was empty";
    case 21606:
      return "our sending number cannot send texts";
    case 21608:
      return "a trial account can only text numbers it has checked";
    case 21610:
      return "the person has stopped texts from us (replied STOP)";
    case 21611:
      return "our sending number has too many texts waiting";
    case 21612:
      return "Twilio cannot reach this number";
    case 21617:
      return "the text is too long";
    default:
      return {};
  }
}

std::string_view http_description(long status) {
  switch (status) {
    case 400:
      return "Twilio did not accept the request";
    case 401:
      return "Twilio did not accept our login";
    case 403:
      return "Twilio does not allow this for our account";
    case 404:
      return "Twilio could not find our account";
    case 429:
      return "too many requests to Twilio";
    default:
      if (status >= 500 && status < 600) return "Twilio had a problem on its side";
      return "Twilio refused the request";
  }
}

}  // namespace

std::string smtp_failure_text(std::string_view line) {
  if (line.size() < 3 || !digits(line.substr(0, 3)) || (line[0] != '4' && line[0] != '5') ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    return {};
  }
  const int reply = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  std::string out(line.substr(0, 3));

  // "5.1.1": the class (the reply's own), a subject and a detail of one to three digits each.
  // Anything else after the reply code is the server's free text, and left out.
  std::string_view rest = line.size() > 4 ? line.substr(4) : std::string_view();
  std::string_view code = rest.substr(0, rest.find_first_of(" \t\r\n"));
  size_t dot1 = code.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : code.find('.', dot1 + 1);
  bool enhanced = dot2 != std::string_view::npos && dot1 == 1 && code[0] == line[0] &&
                  digits(code.substr(2, dot2 - 2)) && dot2 - 2 <= 3 &&
                  digits(code.substr(dot2 + 1)) && code.size() - dot2 - 1 <= 3;
  std::string_view description;
  if (enhanced) {
    out += ", ";
    out += code;
    std::string_view subject_detail = code.substr(2);
    description = enhanced_description(subject_detail);
    // 5.7.1 is used both for "relaying denied" (our account's problem) and for a recipient's
    // server refusing us; the words say which. Read, not kept: only our words are.
    if (subject_detail == "7.1") {
      std::string lower(line);
      for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("relay") != std::string::npos)
        description = "the mail server will not pass our mail on (relaying denied)";
    }
    // Subjects are one digit in every code registered; a longer one we cannot describe.
    if (description.empty() && dot2 == 3) description = subject_description(subject_detail[0]);
  }
  if (description.empty()) description = reply_description(reply);
  out += ": ";
  out += description;
  return out;
}

std::string curl_failure_text(CURLcode code) {
  std::string_view what;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      what = "timeout: the server did not answer in time";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      what = "the server's name could not be looked up (DNS)";
      break;
    case CURLE_COULDNT_CONNECT:
      what = "could not connect to the server";
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
      what = "the secure connection (TLS) failed";
      break;
    case CURLE_USE_SSL_FAILED:
      what = "the server does not offer the secure connection (TLS) we require";
      break;
    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
      what = "the server did not accept our login";
      break;
    case CURLE_REMOTE_ACCESS_DENIED:
      what = "the server refused us";
      break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      what = "the connection broke";
      break;
    case CURLE_WEIRD_SERVER_REPLY:
      what = "the server's answer could not be understood";
      break;
    case CURLE_OUT_OF_MEMORY:
      what = "out of memory";
      break;
    default:
      what = "the transfer failed";
      break;
  }
  return std::string(what) + " (curl error " + std::to_string(static_cast<int>(code)) + ")";
}

std::string twilio_failure_text(long http_status, long twilio_code) {
  std::string out = "HTTP " + std::to_string(http_status);
  std::string_view description;
  if (twilio_code != 0) {
    out += ", error " + std::to_string(twilio_code);
    description = twilio_description(twilio_code);
  }
  if (description.empty()) description = http_description(http_status);
  out += ": ";
  out += description;
  return out;
}

}  // namespace nudged
