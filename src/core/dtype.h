#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace teesplit {

// Element types the engine stores. Arithmetic kernels handle F32 (and I64 for the
// shape chains exporters emit); the others exist so that models load and fold.
enum class DType : uint8_t { F32, I64, I32, U8, Bool };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::I64:
      return 8;
    case DType::I32:
      return 4;
    case DType::U8:
      return 1;
    case DType::Bool:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::I64:
      return "int64";
    case DType::I32:
      return "int32";
    case DType::U8:
      return "uint8";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

// ONNX element type codes (TensorProto.DataType in onnx.proto): stable numbers,
// so the code that needs them does not need protobuf.
namespace onnx_type {
inline constexpr int32_t kFloat = 1, kUint8 = 2, kInt32 = 6, kInt64 = 7, kBool = 9;
}

// The one table between DTypes and ONNX codes.
struct OnnxTypeCode {
  DType dtype;
  int32_t code;
};
inline constexpr OnnxTypeCode kOnnxTypeCodes[] = {{DType::F32, onnx_type::kFloat},
                                                  {DType::U8, onnx_type::kUint8},
                                                  {DType::I32, onnx_type::kInt32},
                                                  {DType::I64, onnx_type::kInt64},
                                                  {DType::Bool, onnx_type::kBool}};

// The ONNX code of t.
constexpr int32_t dtype_to_onnx(DType t) {
  for (const OnnxTypeCode& e : kOnnxTypeCodes)
    if (e.dtype == t) return e.code;
  return 0;  // UNDEFINED; not reached, every DType is in the table
}

// The DType that holds ONNX code `code`; nullopt for the types teesplit does not
// store (the importer also reads float64 tensors, converting them to float32).
constexpr std::optional<DType> dtype_from_onnx(int64_t code) {
  for (const OnnxTypeCode& e : kOnnxTypeCodes)
    if (e.code == code) return e.dtype;
  return std::nullopt;
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::I64;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::I32;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::U8;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

}  // namespace teesplit
