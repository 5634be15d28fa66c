// Tiny command-line and timing helpers shared by the channel benchmarks.
#pragma once

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace nudged::bench {

// "--name N" from argv, or `fallback`.
inline long arg(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

// Whether the bare flag `name` ("--check") is on the command line.
inline bool flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace nudged::bench
