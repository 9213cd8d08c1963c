#include "io/image.h"

// clang-format off
#include <csetjmp>
#include <cstdio>
#include <png.h>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/file.h"

namespace teesplit {

namespace {

// Largest decoded image accepted (bytes), so that a forged header cannot ask for
// an absurd allocation.
constexpr uint64_t kMaxImageBytes = uint64_t(1) << 31;

// ---------------------------------------------------------------- PNG reading
// The functions that call setjmp keep no C++ objects of their own: all state lives
// behind a pointer owned by the caller, so a longjmp skips no destructor and leaves
// no indeterminate local.
struct PngReadState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char msg[256];
  Image* out;
  std::vector<png_bytep>* rows;
};

void png_error_cb(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(st->msg, sizeof st->msg, "%s", msg);
  png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep dst, png_size_t len) {
  auto* st = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (len > st->size - st->pos) {
    std::snprintf(st->msg, sizeof st->msg,
                  "truncated: needed %zu bytes at byte offset %zu, file has %zu",
                  static_cast<size_t>(len), st->pos, st->size);
    png_longjmp(png, 1);
  }
  std::memcpy(dst, st->data + st->pos, len);
  st->pos += len;
}

bool png_decode_impl(png_structp png, png_infop info, PngReadState* st) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, st, png_read_cb);
  png_set_user_limits(png, 1u << 20, 1u << 20);
  png_read_info(png, info);
  int color = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (depth == 16) png_set_scale_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int ch = png_get_channels(png, info);
  if (png_get_bit_depth(png, info) != 8 || ch < 1 || ch > 4) {
    std::snprintf(st->msg, sizeof st->msg,
                  "unsupported layout after conversion (%d bits, %d channels)",
                  png_get_bit_depth(png, info), ch);
    return false;
  }
  if (uint64_t(w) * h * ch > kMaxImageBytes || w == 0 || h == 0) {
    std::snprintf(st->msg, sizeof st->msg, "image size %ux%ux%d is out of range", w, h, ch);
    return false;
  }
  size_t rowbytes = png_get_rowbytes(png, info);
  if (rowbytes != size_t(w) * ch) {
    std::snprintf(st->msg, sizeof st->msg, "unexpected row size %zu", rowbytes);
    return false;
  }
  st->out->width = static_cast<int>(w);
  st->out->height = static_cast<int>(h);
  st->out->channels = ch;
  st->out->data.resize(size_t(w) * h * ch);
  st->rows->resize(h);
  for (uint32_t y = 0; y < h; ++y) (*st->rows)[y] = st->out->data.data() + size_t(y) * rowbytes;
  png_read_image(png, st->rows->data());
  png_read_end(png, nullptr);
  return true;
}

// ---------------------------------------------------------------- PNG writing
struct PngWriteState {
  char msg[256];
  std::vector<uint8_t>* out;
  const Image* img;
  std::vector<png_bytep>* rows;
};

void png_write_error_cb(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(st->msg, sizeof st->msg, "%s", msg);
  png_longjmp(png, 1);
}

void png_write_cb(png_structp png, png_bytep src, png_size_t len) {
  auto* st = static_cast<PngWriteState*>(png_get_io_ptr(png));
  st->out->insert(st->out->end(), src, src + len);  // bad_alloc propagates as an exception
}

void png_flush_cb(png_structp) {}

bool png_encode_impl(png_structp png, png_infop info, PngWriteState* st) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, st, png_write_cb, png_flush_cb);
  static const int kColor[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, st->img->width, st->img->height, 8, kColor[st->img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  png_write_info(png, info);
  png_write_image(png, st->rows->data());
  png_write_end(png, nullptr);
  return true;
}

// ---------------------------------------------------------------- JPEG reading
struct JpegErr {
  jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
};

void jpeg_error_exit_cb(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->msg);
  std::longjmp(e->jb, 1);
}

// Warnings are ignored except a premature end of data, which is treated as an error
// (libjpeg would otherwise return an image whose lower part is invented).
void jpeg_emit_message_cb(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, e->msg);
    std::longjmp(e->jb, 1);
  }
}

struct JpegReadState {
  const uint8_t* data;
  size_t size;
  Image* out;
  std::vector<uint8_t>* scratch;  // CMYK rows
};

bool jpeg_decode_impl(jpeg_decompress_struct* cinfo, JpegErr* err, JpegReadState* st) {
  if (setjmp(err->jb)) return false;
  jpeg_mem_src(cinfo, st->data, static_cast<unsigned long>(st->size));
  jpeg_read_header(cinfo, TRUE);
  bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  if (cinfo->jpeg_color_space == JCS_GRAYSCALE)
    cinfo->out_color_space = JCS_GRAYSCALE;
  else if (cmyk)
    cinfo->out_color_space = JCS_CMYK;
  else
    cinfo->out_color_space = JCS_RGB;
  jpeg_start_decompress(cinfo);
  uint32_t w = cinfo->output_width, h = cinfo->output_height;
  int comps = cinfo->output_components;
  int ch = cmyk ? 3 : comps;
  if (uint64_t(w) * h * comps > kMaxImageBytes || w == 0 || h == 0 ||
      !(comps == 1 || comps == 3 || comps == 4)) {
    std::snprintf(err->msg, sizeof err->msg, "image size %ux%ux%d is out of range", w, h, comps);
    return false;
  }
  st->out->width = static_cast<int>(w);
  st->out->height = static_cast<int>(h);
  st->out->channels = ch;
  st->out->data.resize(size_t(w) * h * ch);
  if (cmyk) st->scratch->resize(size_t(w) * 4);
  bool inverted = cinfo->saw_Adobe_marker;  // Adobe writes CMYK inverted
  while (cinfo->output_scanline < h) {
    uint32_t y = cinfo->output_scanline;
    JSAMPROW row = cmyk ? st->scratch->data() : st->out->data.data() + size_t(y) * w * ch;
    jpeg_read_scanlines(cinfo, &row, 1);
    if (cmyk) {
      uint8_t* dst = st->out->data.data() + size_t(y) * w * 3;
      const uint8_t* src = st->scratch->data();
      for (uint32_t x = 0; x < w; ++x) {
        int c = src[4 * x], m = src[4 * x + 1], yy = src[4 * x + 2], k = src[4 * x + 3];
        if (!inverted) c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
        dst[3 * x] = static_cast<uint8_t>((c * k + 127) / 255);
        dst[3 * x + 1] = static_cast<uint8_t>((m * k + 127) / 255);
        dst[3 * x + 2] = static_cast<uint8_t>((yy * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// PIL/Python round(): half to even.
int round_half_even(double v) {
  return static_cast<int>(std::nearbyint(v));
}

struct Tap {
  int first;                   // first source index
  std::vector<float> weights;  // consecutive source pixels from `first`
};

std::vector<Tap> resize_taps(int in, int out, bool antialias) {
  std::vector<Tap> taps(out);
  double scale = double(in) / out;
  for (int d = 0; d < out; ++d) {
    Tap& t = taps[d];
    if (!antialias) {
      double s = (d + 0.5) * scale - 0.5;
      if (s < 0) s = 0;
      int x0 = std::min(static_cast<int>(s), in - 1);
      double l1 = s - x0;
      if (x0 >= in - 1) {
        t.first = in - 1;
        t.weights = {1.0f};
      } else {
        t.first = x0;
        t.weights = {static_cast<float>(1.0 - l1), static_cast<float>(l1)};
      }
      continue;
    }
    double fs = std::max(scale, 1.0);
    double support = fs;
    double center = (d + 0.5) * scale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), in);
    if (xmax <= xmin) xmax = std::min(xmin + 1, in);
    t.first = xmin;
    double total = 0;
    std::vector<double> w(xmax - xmin);
    for (int x = xmin; x < xmax; ++x) {
      double a = std::abs((x - center + 0.5) / fs);
      w[x - xmin] = a < 1.0 ? 1.0 - a : 0.0;
      total += w[x - xmin];
    }
    t.weights.resize(w.size());
    for (size_t i = 0; i < w.size(); ++i)
      t.weights[i] = static_cast<float>(total > 0 ? w[i] / total : (i == 0 ? 1.0 : 0.0));
  }
  return taps;
}

void check_image(const Image& img, const char* what) {
  TS_CHECK(img.width > 0 && img.height > 0 && img.channels >= 1 && img.channels <= 4, what,
           ": invalid image ", img.width, "x", img.height, "x", img.channels);
  TS_CHECK(img.data.size() == size_t(img.width) * img.height * img.channels, what,
           ": image buffer holds ", img.data.size(), " bytes, expected ",
           size_t(img.width) * img.height * img.channels);
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::Png;
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return ImageFormat::Jpeg;
  return ImageFormat::Unknown;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name) {
  Image img;
  std::vector<png_bytep> rows;
  PngReadState st{data, size, 0, {0}, &img, &rows};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_cb, png_warning_cb);
  if (!png) fail("PNG '", name, "': cannot create the libpng reader");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    fail("PNG '", name, "': cannot create the libpng info struct");
  }
  bool ok;
  try {
    ok = png_decode_impl(png, info, &st);
  } catch (...) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) fail("PNG '", name, "': ", st.msg, " (read up to byte offset ", st.pos, ")");
  return img;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) fail("JPEG '", name, "': empty file");
  Image img;
  std::vector<uint8_t> scratch;
  JpegErr err{};
  jpeg_decompress_struct cinfo{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit_cb;
  err.pub.emit_message = jpeg_emit_message_cb;
  jpeg_create_decompress(&cinfo);
  JpegReadState st{data, size, &img, &scratch};
  bool ok;
  try {
    ok = jpeg_decode_impl(&cinfo, &err, &st);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  size_t consumed = cinfo.src ? size - cinfo.src->bytes_in_buffer : 0;
  jpeg_destroy_decompress(&cinfo);
  if (!ok) fail("JPEG '", name, "': ", err.msg, " (near byte offset ", consumed, ")");
  return img;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  switch (sniff_image_format(data, size)) {
    case ImageFormat::Png:
      return decode_png(data, size, name);
    case ImageFormat::Jpeg:
      return decode_jpeg(data, size, name);
    case ImageFormat::Unknown:
      break;
  }
  fail("image '", name, "': not a PNG or JPEG file (unrecognised first bytes, ", size,
       " bytes long)");
}

Image decode_image(const std::string& path) {
  const std::string b = read_file(path);
  return decode_image(reinterpret_cast<const uint8_t*>(b.data()), b.size(), path);
}

std::vector<uint8_t> encode_png(const Image& img) {
  check_image(img, "encode_png");
  std::vector<uint8_t> out;
  std::vector<png_bytep> rows(img.height);
  for (int y = 0; y < img.height; ++y)
    rows[y] = const_cast<png_bytep>(img.data.data() + size_t(y) * img.width * img.channels);
  PngWriteState st{{0}, &out, &img, &rows};
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, png_write_error_cb, png_warning_cb);
  if (!png) fail("encode_png: cannot create the libpng writer");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    fail("encode_png: cannot create the libpng info struct");
  }
  bool ok;
  try {
    ok = png_encode_impl(png, info, &st);
  } catch (...) {
    png_destroy_write_struct(&png, &info);
    throw;
  }
  png_destroy_write_struct(&png, &info);
  if (!ok) fail("encode_png: ", st.msg);
  return out;
}

void write_png(const std::string& path, const Image& img) {
  std::vector<uint8_t> b = encode_png(img);
  write_file(path, b.data(), b.size());
}

Image convert_channels(const Image& img, int channels) {
  check_image(img, "convert_channels");
  TS_CHECK(channels >= 1 && channels <= 4, "convert_channels: bad channel count ", channels);
  if (img.channels == channels) return img;
  Image out;
  out.width = img.width;
  out.height = img.height;
  out.channels = channels;
  size_t n = size_t(img.width) * img.height;
  out.data.resize(n * channels);
  const int ci = img.channels;
  for (size_t p = 0; p < n; ++p) {
    const uint8_t* s = img.data.data() + p * ci;
    uint8_t* d = out.data.data() + p * channels;
    bool src_colour = ci >= 3;
    uint8_t alpha = (ci == 2 || ci == 4) ? s[ci - 1] : 255;
    uint8_t grey = src_colour
                       ? static_cast<uint8_t>((s[0] * 299 + s[1] * 587 + s[2] * 114 + 500) / 1000)
                       : s[0];
    switch (channels) {
      case 1:
        d[0] = grey;
        break;
      case 2:
        d[0] = grey, d[1] = alpha;
        break;
      case 3:
      case 4:
        for (int c = 0; c < 3; ++c) d[c] = src_colour ? s[c] : s[0];
        if (channels == 4) d[3] = alpha;
        break;
    }
  }
  return out;
}

Image resize_bilinear(const Image& img, int width, int height, bool antialias) {
  check_image(img, "resize_bilinear");
  TS_CHECK(width > 0 && height > 0 && uint64_t(width) * height * img.channels <= kMaxImageBytes,
           "resize_bilinear: bad target size ", width, "x", height);
  if (width == img.width && height == img.height) return img;
  const int C = img.channels;
  std::vector<Tap> tx = resize_taps(img.width, width, antialias);
  std::vector<Tap> ty = resize_taps(img.height, height, antialias);
  // Horizontal pass over every source row, then vertical pass.
  std::vector<float> tmp(size_t(img.height) * width * C);
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* src = img.data.data() + size_t(y) * img.width * C;
    float* dst = tmp.data() + size_t(y) * width * C;
    for (int x = 0; x < width; ++x) {
      const Tap& t = tx[x];
      for (int c = 0; c < C; ++c) {
        float acc = 0;
        for (size_t k = 0; k < t.weights.size(); ++k)
          acc += t.weights[k] * src[(t.first + k) * C + c];
        dst[size_t(x) * C + c] = acc;
      }
    }
  }
  Image out;
  out.width = width;
  out.height = height;
  out.channels = C;
  out.data.resize(size_t(width) * height * C);
  const size_t row = size_t(width) * C;
  std::vector<float> acc(row);
  for (int y = 0; y < height; ++y) {
    const Tap& t = ty[y];
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const float* src = tmp.data() + (t.first + k) * row;
      float w = t.weights[k];
      for (size_t i = 0; i < row; ++i) acc[i] += w * src[i];
    }
    uint8_t* dst = out.data.data() + y * row;
    for (size_t i = 0; i < row; ++i)
      dst[i] = static_cast<uint8_t>(std::clamp(std::lround(acc[i]), 0L, 255L));
  }
  return out;
}

Image center_crop(const Image& img, int width, int height) {
  check_image(img, "center_crop");
  TS_CHECK(width > 0 && height > 0 && uint64_t(width) * height * img.channels <= kMaxImageBytes,
           "center_crop: bad crop size ", width, "x", height);
  int left =
      img.width >= width ? round_half_even((img.width - width) / 2.0) : -((width - img.width) / 2);
  int top = img.height >= height ? round_half_even((img.height - height) / 2.0)
                                 : -((height - img.height) / 2);
  Image out;
  out.width = width;
  out.height = height;
  out.channels = img.channels;
  out.data.assign(size_t(width) * height * img.channels, 0);
  for (int y = 0; y < height; ++y) {
    int sy = y + top;
    if (sy < 0 || sy >= img.height) continue;
    for (int x = 0; x < width; ++x) {
      int sx = x + left;
      if (sx < 0 || sx >= img.width) continue;
      std::memcpy(&out.data[(size_t(y) * width + x) * img.channels],
                  &img.data[(size_t(sy) * img.width + sx) * img.channels], img.channels);
    }
  }
  return out;
}

void resized_shorter_dims(int width, int height, int shorter, int* out_w, int* out_h) {
  TS_CHECK(width > 0 && height > 0 && shorter > 0, "resize: bad sizes ", width, "x", height,
           " -> shorter side ", shorter);
  if (width <= height) {
    *out_w = shorter;
    *out_h = static_cast<int>(int64_t(shorter) * height / width);
  } else {
    *out_h = shorter;
    *out_w = static_cast<int>(int64_t(shorter) * width / height);
  }
}

namespace {

// Writes the preprocessed image into dst (C*crop*crop floats); returns the side.
void preprocess_into(const Image& img, const PreprocessOptions& opt, float* dst, int* out_w,
                     int* out_h, bool dry) {
  check_image(img, "imagenet_preprocess");
  const int64_t C = opt.channels;
  TS_CHECK(C == 1 || C == 3, "imagenet_preprocess: channels must be 1 or 3, got ", C);
  TS_CHECK(opt.mean.size() == size_t(C) || opt.mean.size() == 1, "imagenet_preprocess: mean has ",
           opt.mean.size(), " values for ", C, " channels");
  TS_CHECK(opt.std.size() == size_t(C) || opt.std.size() == 1, "imagenet_preprocess: std has ",
           opt.std.size(), " values for ", C, " channels");
  TS_CHECK(opt.resize_shorter >= 0 && opt.resize_shorter <= 1 << 16 && opt.crop >= 0 &&
               opt.crop <= 1 << 16,
           "imagenet_preprocess: bad sizes resize_shorter=", opt.resize_shorter,
           " crop=", opt.crop);
  // Work on 1 or 3 channels; grey going to 3 channels is replicated at the end.
  Image base;
  if (C == 1)
    base = convert_channels(img, 1);
  else if (img.channels == 2)
    base = convert_channels(img, 1);
  else if (img.channels == 4)
    base = convert_channels(img, 3);
  else
    base = img;
  if (opt.resize_shorter > 0) {
    int w, h;
    resized_shorter_dims(base.width, base.height, static_cast<int>(opt.resize_shorter), &w, &h);
    base = resize_bilinear(base, w, h, opt.antialias);
  }
  if (opt.crop > 0)
    base = center_crop(base, static_cast<int>(opt.crop), static_cast<int>(opt.crop));
  *out_w = base.width;
  *out_h = base.height;
  if (dry) return;
  const size_t plane = size_t(base.width) * base.height;
  for (int64_t c = 0; c < C; ++c) {
    float m = opt.mean.size() == 1 ? opt.mean[0] : opt.mean[c];
    float s = opt.std.size() == 1 ? opt.std[0] : opt.std[c];
    TS_CHECK(s != 0.0f, "imagenet_preprocess: std[", c, "] is zero");
    int sc = base.channels == 1 ? 0 : static_cast<int>(c);
    float* d = dst + c * plane;
    for (size_t p = 0; p < plane; ++p)
      d[p] = (static_cast<float>(base.data[p * base.channels + sc]) / 255.0f - m) / s;
  }
}

}  // namespace

Tensor imagenet_preprocess(const Image& img, const PreprocessOptions& opt) {
  // Resize + crop first to learn the output size, then normalise into the tensor.
  const int64_t C = opt.channels;
  check_image(img, "imagenet_preprocess");
  int w = 0, h = 0;
  if (opt.crop > 0) {
    w = h = static_cast<int>(opt.crop);
    Tensor t(DType::F32, {1, C, h, w});
    preprocess_into(img, opt, t.data<float>(), &w, &h, false);
    return t;
  }
  // No crop: the size depends on the image.
  preprocess_into(img, opt, nullptr, &w, &h, true);
  Tensor t(DType::F32, {1, C, h, w});
  preprocess_into(img, opt, t.data<float>(), &w, &h, false);
  return t;
}

Tensor imagenet_preprocess(const Image& img, int64_t resize_shorter, int64_t crop,
                           std::vector<float> mean, std::vector<float> std, int64_t channels) {
  PreprocessOptions o;
  o.resize_shorter = resize_shorter;
  o.crop = crop;
  o.mean = std::move(mean);
  o.std = std::move(std);
  o.channels = channels;
  return imagenet_preprocess(img, o);
}

Tensor imagenet_preprocess_batch(const std::vector<Image>& imgs, const PreprocessOptions& opt) {
  TS_CHECK(opt.crop > 0, "imagenet_preprocess_batch: needs a crop size so that outputs agree");
  const int64_t C = opt.channels, S = opt.crop;
  Tensor t(DType::F32, {static_cast<int64_t>(imgs.size()), C, S, S});
  float* d = t.data<float>();
  for (size_t i = 0; i < imgs.size(); ++i) {
    int w, h;
    preprocess_into(imgs[i], opt, d + i * C * S * S, &w, &h, false);
  }
  return t;
}

Image tensor_to_image(const Tensor& t) {
  TS_CHECK(t.defined() && t.dtype() == DType::F32, "tensor_to_image: need a float32 tensor");
  Shape s = t.shape();
  if (s.size() == 4) {
    TS_CHECK(s[0] == 1, "tensor_to_image: batch of ", s[0], " (need 1) in ", shape_str(s));
    s.erase(s.begin());
  }
  TS_CHECK(s.size() == 3, "tensor_to_image: need [C,H,W], got ", shape_str(t.shape()));
  TS_CHECK(s[0] >= 1 && s[0] <= 4, "tensor_to_image: ", s[0], " channels in ",
           shape_str(t.shape()));
  TS_CHECK(s[1] > 0 && s[2] > 0 && s[1] <= 1 << 16 && s[2] <= 1 << 16, "tensor_to_image: bad size ",
           shape_str(t.shape()));
  Image img;
  img.channels = static_cast<int>(s[0]);
  img.height = static_cast<int>(s[1]);
  img.width = static_cast<int>(s[2]);
  size_t plane = size_t(img.width) * img.height;
  img.data.resize(plane * img.channels);
  const float* d = t.data<float>();
  for (int c = 0; c < img.channels; ++c)
    for (size_t p = 0; p < plane; ++p) {
      float v = d[c * plane + p];
      if (std::isnan(v)) v = 0;
      v = std::clamp(v, 0.0f, 1.0f);
      img.data[p * img.channels + c] = static_cast<uint8_t>(std::lround(v * 255.0f));
    }
  return img;
}

Tensor image_to_tensor(const Image& img, float scale) {
  check_image(img, "image_to_tensor");
  const int64_t C = img.channels, H = img.height, W = img.width;
  Tensor t(DType::F32, {C, H, W});
  float* d = t.data<float>();
  size_t plane = size_t(H) * W;
  for (int64_t c = 0; c < C; ++c)
    for (size_t p = 0; p < plane; ++p) d[c * plane + p] = img.data[p * C + c] * scale;
  return t;
}

}  // namespace teesplit
