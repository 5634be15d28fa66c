// /v1/unsubscribe?token=…: the email opt-out link every email carries (RFC 8058).
//
// POST opts the person out at once: that is the one-click request mail clients send
// ("List-Unsubscribe=One-Click"). GET only shows a page with a button that POSTs: mail
// scanners and link previews fetch URLs, and a scanner must not be able to unsubscribe someone
// from the reminders of their support group.
//
// A browser (its Accept names text/html) gets pages; any other client gets what every other
// route answers: 202 with JSON once the opt-out is durable, and the JSON error of SPEC §5.

#include <nlohmann/json.hpp>

#include "daemon/ingress.h"
#include "daemon/link_token.h"
#include "daemon/signature.h"

namespace nudged {
namespace {

constexpr const char* kMeta = R"({"source":"unsubscribe"})";

HttpResponse page(int status, std::string_view title, std::string_view body_html) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  html += title;
  html += "</title></head><body><main><h1>";
  html += title;
  html += "</h1>";
  html += body_html;
  html += "</main></body></html>\n";
  return HttpResponse::text(status, std::move(html), "text/html; charset=utf-8");
}

bool wants_html(const HttpRequest& request) {
  const std::string* accept = request.header("accept");
  return accept != nullptr && accept->find("text/html") != std::string::npos;
}

// The address a staff token's subject names, and its match key: a coordinator's
// (configuration) or a facilitator's (sessions, series and occurrence changes in State). Match
// keys are compared; only the facilitator's address found is opened. Nothing when no one has it
// any more (or a facilitator's address was sealed before facilitators' addresses had a blind
// index: such an opt-out could not be honoured anyway).
struct StaffFound {
  std::string email;
  std::string match;
};
std::optional<StaffFound> find_staff(const std::string& subject, const IngressContext& ctx) {
  auto names = [&](std::string_view match) {
    return staff_token_subject(ctx.link_key, match) == subject;
  };
  for (const StaffAddress& c : ctx.config.plan.coordinators) {
    std::string match = ctx.sealer.blind_index(c.address);
    if (names(match)) return StaffFound{c.address, match};
  }
  std::optional<StaffFound> found;
  auto search = [&](const std::vector<Facilitator>& list, const std::string& seal_subject) {
    for (const Facilitator& f : list) {
      if (found || !f.email || !names(match_key(*f.email))) continue;
      Result<std::string> email = ctx.sealer.open(f.email->sealed, SealContext{seal_subject, {}});
      if (email) found = StaffFound{*email, std::string(match_key(*f.email))};
    }
  };
  for (const auto& [id, s] : ctx.state.sessions())
    search(s.facilitators, "session/" + id);
  for (const auto& [id, s] : ctx.state.series()) {
    search(s.definition.facilitators, "series/" + id);
    for (const auto& [date, o] : s.overrides) {
      if (o.update.facilitators) search(*o.update.facilitators, "series/" + id);
    }
  }
  return found;
}

std::string query_token(const HttpRequest& request) {
  for (const auto& [k, v] : parse_form(request.query)) {
    if (k == "token") return v;
  }
  return {};
}

}  // namespace

Verdict unsubscribe(const HttpRequest& request, const std::vector<std::string>&,
                    const IngressContext& ctx) {
  std::string token = query_token(request);
  size_t dot = token.rfind('.');
  std::string participant_id = dot == std::string::npos ? "" : token.substr(0, dot);
  if (participant_id.empty() ||
      !equal_in_constant_time(token, unsubscribe_token(ctx.link_key, participant_id))) {
    if (!wants_html(request)) {
      return Verdict::answer(HttpResponse::error(
          401, "bad_token", "the unsubscribe token is missing or does not match", "token"));
    }
    HttpResponse r = page(401, "This link does not work",
                          "<p>The link may be cut short. Please use the whole link from the "
                          "email, or reply to the email to ask us to stop.</p>");
    return Verdict::answer(std::move(r));
  }
  if (request.method == "GET") {
    std::string form =
        "<p>Do you want to stop getting emails about the meetings you signed up for?</p>"
        "<form method=\"post\" action=\"/v1/unsubscribe?token=" +
        token +
        "\"><button type=\"submit\">Stop these emails</button></form>"
        "<p>If you do nothing, nothing changes.</p>";
    return Verdict::answer(page(200, "Stop emails", form));
  }
  HttpResponse done =
      wants_html(request)
          ? page(200, "You will get no more emails",
                 "<p>We will not send you more emails about these meetings. You can "
                 "still join them.</p>")
          : HttpResponse::json(202, R"({"participant_id":")" + participant_id +
                                        R"(","channel":"email","opted_out":true})");
  Result<std::string> email = std::string();
  if (participant_id.starts_with(kStaffTokenPrefix)) {
    std::optional<StaffFound> staff = find_staff(participant_id, ctx);
    if (!staff || ctx.state.opted_out("email", staff->match)) {
      return Verdict::answer(done);  // no longer staff, or already out: nothing to record
    }
    email = std::move(staff->email);
  } else {
    const ParticipantState* p = ctx.state.participant(participant_id);
    if (p == nullptr || p->erased || p->email.empty()) return Verdict::answer(done);  // nothing
    email = ctx.sealer.open(p->email.sealed, SealContext{"participant/" + participant_id, {}});
    if (!email) {
      return Verdict::answer(error_response(Status::unavailable(email.status().message())));
    }
    if (ctx.state.opted_out("email", p->email)) return Verdict::answer(done);
  }
  nlohmann::ordered_json data = {{"channel", "email"}, {"address", *email}};
  Result<NewEvent> ev =
      ctx.intake.from_data_json(EventType::kParticipantOptedOut, data.dump(), kMeta);
  if (!ev) return Verdict::answer(error_response(ev.status()));
  Verdict v;
  v.batch.push_back(std::move(*ev));
  v.accepted = [done](const std::vector<Appended>&) { return done; };
  return v;
}

}  // namespace nudged
