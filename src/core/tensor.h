#pragma once

#include <cstddef>
#include <memory>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace teesplit {

// A dense, row-major, 64-byte aligned tensor. Copies share the buffer (like a
// shared_ptr); use clone() for a deep copy.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-initialised
  static Tensor zeros(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape)); }
  template <class T>
  static Tensor from(Shape shape, const std::vector<T>& values);
  static Tensor scalar_f32(float v) { return from<float>({}, {v}); }
  // A tensor over memory the caller allocated (at least nbytes(), 64-byte
  // aligned, e.g. page-locked memory for a GPU upload), owned through `buf`.
  static Tensor adopt(DType dtype, Shape shape, std::shared_ptr<std::byte> buf);

  bool defined() const { return dtype_set_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_.at(normalize_axis(i, rank())); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }
  template <class T>
  T* data() {
    check_type<T>();
    return static_cast<T*>(raw());
  }
  template <class T>
  const T* data() const {
    check_type<T>();
    return static_cast<const T*>(raw());
  }

  Tensor clone() const;
  // Same buffer, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Element i converted to int64 (for I64/I32/U8/Bool) or to double for F32 via as_double.
  int64_t as_int(int64_t i) const;
  double as_double(int64_t i) const;

 private:
  template <class T>
  void check_type() const {
    TS_CHECK(dtype_of<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", accessed as ",
             dtype_name(dtype_of<T>::value));
  }
  std::shared_ptr<std::byte> buf_;
  DType dtype_ = DType::F32;
  bool dtype_set_ = false;
  Shape shape_;
  int64_t numel_ = 0;
};

template <class T>
Tensor Tensor::from(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>::value, std::move(shape));
  TS_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from: ", values.size(),
           " values for shape ", shape_str(t.shape()));
  T* d = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) d[i] = values[i];
  return t;
}

// 64-byte aligned allocation, zeroed; throws Error("out of memory ...") on failure.
std::shared_ptr<std::byte> aligned_buffer(size_t bytes);

// How far `got` is from `want`: max |got - want| / max |want| over the finite
// elements (the denominator at least 1e-12). Infinity when either holds a NaN
// anywhere (NaN agrees with nothing, not even NaN) or an infinity that the other
// does not hold at the same place; equal infinities agree. The measure behind
// every "matches within 1e-4" in teesplit. Throws Error if the shapes differ.
double max_relative_error(const Tensor& got, const Tensor& want);

}  // namespace teesplit
