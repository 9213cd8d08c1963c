#include "core/tensor.h"

#include "core/secret.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace teesplit {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    TS_CHECK(d >= 0, "shape ", shape_str(s), " has an unknown or negative dimension");
    TS_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, "shape ", shape_str(s),
             " is too large");
    n *= d;
  }
  return n;
}

bool shape_known(const Shape& s) {
  for (int64_t d : s)
    if (d < 0) return false;
  return true;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ",";
    r += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
  }
  return r + "]";
}

int64_t normalize_axis(int64_t axis, int64_t rank) {
  TS_CHECK(axis >= -rank && axis < rank, "axis ", axis, " out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

std::shared_ptr<std::byte> aligned_buffer(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  // Inside the enclave worker every tensor (weights, inputs, activations) is a
  // secret: with an arena installed it lives there and is wiped when freed.
  if (installed_secret_arena()) {
    void* s = secret_allocate(rounded);
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(s),
                                      [rounded](std::byte* q) { secret_deallocate(q, rounded); });
  }
  void* p = std::aligned_alloc(64, rounded);
  if (!p) fail("out of memory allocating ", bytes, " bytes");
  std::memset(p, 0, rounded);
  return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), dtype_set_(true), shape_(std::move(shape)), numel_(shape_numel(shape_)) {
  TS_CHECK(numel_ <= (int64_t{1} << 40) / static_cast<int64_t>(dtype_size(dtype_)),
           "tensor of shape ", shape_str(shape_), " is too large");
  buf_ = aligned_buffer(nbytes());
}

Tensor Tensor::adopt(DType dtype, Shape shape, std::shared_ptr<std::byte> buf) {
  TS_CHECK(buf != nullptr, "Tensor::adopt: no buffer for a tensor of shape ", shape_str(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.dtype_set_ = true;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  TS_CHECK(t.numel_ <= (int64_t{1} << 40) / static_cast<int64_t>(dtype_size(dtype)),
           "tensor of shape ", shape_str(t.shape_), " is too large");
  t.buf_ = std::move(buf);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  TS_CHECK(shape_numel(shape) == numel_, "cannot reshape ", shape_str(shape_), " to ",
           shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

int64_t Tensor::as_int(int64_t i) const {
  TS_CHECK(i >= 0 && i < numel_, "index ", i, " out of range for ", numel_, " elements");
  switch (dtype_) {
    case DType::F32:
      return static_cast<int64_t>(static_cast<const float*>(raw())[i]);
    case DType::I64:
      return static_cast<const int64_t*>(raw())[i];
    case DType::I32:
      return static_cast<const int32_t*>(raw())[i];
    case DType::U8:
      return static_cast<const uint8_t*>(raw())[i];
    case DType::Bool:
      return static_cast<const uint8_t*>(raw())[i] != 0;
  }
  return 0;
}

double Tensor::as_double(int64_t i) const {
  if (dtype_ == DType::F32) {
    TS_CHECK(i >= 0 && i < numel_, "index ", i, " out of range for ", numel_, " elements");
    return static_cast<const float*>(raw())[i];
  }
  return static_cast<double>(as_int(i));
}

double max_relative_error(const Tensor& got, const Tensor& want) {
  TS_CHECK(got.shape() == want.shape(), "max_relative_error: shapes ", shape_str(got.shape()),
           " and ", shape_str(want.shape()), " differ");
  double max_diff = 0, max_ref = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double x = got.as_double(i), y = want.as_double(i);
    if (std::isnan(x) || std::isnan(y)) return INFINITY;  // NaN agrees with nothing
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;
      continue;  // the same infinity: agreement, and no scale for the finite rest
    }
    max_diff = std::max(max_diff, std::abs(x - y));
    max_ref = std::max(max_ref, std::abs(y));
  }
  return max_diff / std::max(max_ref, 1e-12);
}

}  // namespace teesplit
