// Writes the HTML part of every email nudged can send, rendered with the built-in templates from
// realistic views, one file each, for the accessibility check (axe_test.py) to load in Chromium.
//
//   email_samples TEMPLATE_DIR OUT_DIR [OVERRIDE_DIR]
//
// Every kind, each session.changed variant (new details, moved, cancelled), one with almost
// nothing known, and a discreet reading of each (the group and title left out), since that is a
// different page.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "channels/render.h"
#include "tests/unit/channels/message_views.h"

int main(int argc, char** argv) {
  using namespace nudged;
  namespace fs = std::filesystem;
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: email_samples TEMPLATE_DIR OUT_DIR [OVERRIDE_DIR]\n");
    return 2;
  }
  // The daemon's own loading: overrides ([templates] dir) replace built-in files one by one.
  Result<Templates> templates = Templates::load(argv[1], argc == 4 ? argv[3] : "");
  if (!templates) {
    std::fprintf(stderr, "email_samples: %s\n", templates.status().to_string().c_str());
    return 1;
  }
  fs::path out = argv[2];
  fs::create_directories(out);
  int written = 0;
  for (std::string_view kind : kMessageKinds) {
    int n = 0;
    std::vector<MessageView> views = testing::variants(std::string(kind), "email");
    // And one with almost nothing known (no name, link, duration or accommodations): every
    // optional section left out must still leave a well-formed page.
    MessageView bare;
    bare.kind = kind;
    bare.medium = "email";
    bare.starts_at_local = views.front().starts_at_local;
    bare.unsubscribe_url = views.front().unsubscribe_url;
    views.push_back(bare);
    for (MessageView v : views) {
      for (bool discreet : {false, true}) {
        v.discreet = discreet;
        Result<Rendered> r = templates->render(v);
        if (!r) {
          std::fprintf(stderr, "email_samples: %s: %s\n", std::string(kind).c_str(),
                       r.status().to_string().c_str());
          return 1;
        }
        std::string name =
            std::string(kind) + "-" + std::to_string(n) + (discreet ? "-discreet" : "") + ".html";
        std::ofstream(out / name) << r->html;
        ++written;
      }
      ++n;
    }
  }
  std::printf("%d emails written to %s\n", written, out.c_str());
  return 0;
}
