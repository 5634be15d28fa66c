// The sd_notify protocol (systemd Type=notify): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
//
// A thin wrapper over libsystemd's sd_notify, so the daemon says what it means ("ready",
// "reloading") and the protocol's spelling lives in one place. Every call is a no-op when
// NOTIFY_SOCKET is not set (running by hand, in tests without a listener). Loop thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace nudged {

class SystemdNotifier {
 public:
  void ready(const std::string& status);  // READY=1, with a STATUS= line
  void status(const std::string& status);
  void reloading();  // RELOADING=1 with MONOTONIC_USEC=now
  void stopping();
  void watchdog();

  // Half of WATCHDOG_USEC when the service manager asks for watchdog pings for this process,
  // else nothing.
  static std::optional<std::chrono::milliseconds> watchdog_interval();
};

}  // namespace nudged
