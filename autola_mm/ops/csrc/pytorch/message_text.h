// The numbers and shapes in the argument checks' messages, as text written
// without iostreams. std::ostream formats a number through the C++ locale,
// and in a process where another library brought a second libstdc++ (one
// linked statically, pytorch#109923) that locale is broken: formatting a
// number there crashes (it did on a GPU machine, for every rejected input
// whose message held a number), while writing text does not. The text is
// what c10::str would write: "[2, 3, 4]" for a shape, "%g" for a double.
#pragma once

#include <c10/core/SymInt.h>
#include <c10/core/SymNodeImpl.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace autola_mm::checks {

inline std::string text(int64_t value) {
  return std::to_string(value);
}

inline std::string text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

// A size: its value, or its symbol's expression under torch.compile.
inline std::string text(const c10::SymInt& value) {
  if (const auto known = value.maybe_as_int()) {
    return std::to_string(*known);
  }
  return value.toSymNodeImplUnowned()->str();
}

inline std::string text(c10::SymIntArrayRef sizes) {
  std::string result = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    result += (i == 0 ? "" : ", ") + text(sizes[i]);
  }
  return result + "]";
}

}  // namespace autola_mm::checks
