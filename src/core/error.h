// Errors: internal code throws teesplit::Error with context; module entry points
// that face the outside world (file readers, CLI) return Result<T> or catch at the
// boundary and turn the error into a one-line message and a non-zero exit.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace teesplit {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string msg) : std::runtime_error(std::move(msg)) {}
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Throws Error with the arguments streamed into one message.
template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

// TS_CHECK(cond, msg...): throw Error(msg) when cond is false.
#define TS_CHECK(cond, ...)                     \
  do {                                          \
    if (!(cond)) ::teesplit::fail(__VA_ARGS__); \
  } while (0)

// A value or an error message; used at module boundaries.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : v_(std::move(err)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const std::string error() const { return ok() ? std::string() : std::get<Error>(v_).what(); }
  T& value() & { return unwrap(); }
  T&& value() && { return std::move(unwrap()); }
  const T& value() const& { return const_cast<Result*>(this)->unwrap(); }
  T* operator->() { return &unwrap(); }
  T& operator*() { return unwrap(); }

 private:
  T& unwrap() {
    if (!ok()) throw std::get<Error>(v_);
    return std::get<T>(v_);
  }
  std::variant<T, Error> v_;
};

// Runs fn() and turns a thrown Error (or std::exception) into a Result.
template <class F>
auto capture(F&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return Error("out of memory");
  } catch (const std::exception& e) {
    return Error(e.what());
  }
}

}  // namespace teesplit
